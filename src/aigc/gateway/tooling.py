"""Function calling on the OpenAI front door: a request's tools and messages as the model takes
them, and the model's calls as OpenAI answers them.

    request:  tools / tool_choice / parallel_tool_calls (or the legacy functions /
              function_call)                                  → ToolSet
              messages with tool_calls, tool and function turns → ChatMessage
    answer:   ToolCallDelta pieces from the model              → message.tool_calls (JSON body)
                                                                  delta.tool_calls (SSE)
              legacy request                                    → function_call, as OpenAI does

A choice, a name or a history that cannot be honoured is a 400 naming the field. The audit
learns tool names and counts (``audit_codes``), never arguments or results.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aigc.errors import InvalidRequest, refused_value
from aigc.gateway.schemas import ChatCompletionRequest, FunctionDef, Message, message_text
from aigc.guard.structured import check_schema
from aigc.infra import untrusted
from aigc.models.protocols import (
    ChatMessage,
    FunctionTool,
    TextModel,
    ToolCall,
    ToolCallDelta,
    ToolSet,
)

_MODES = ("none", "auto", "required")


# --- the request ------------------------------------------------------------------------------


def is_legacy(body: ChatCompletionRequest) -> bool:
    """Asked with ``functions``: the answer speaks ``function_call`` as OpenAI's did."""
    return bool(body.functions)


def tool_set(body: ChatCompletionRequest) -> ToolSet | None:
    """The request's tools and how they may be used; None when it offers none. Each
    function's ``parameters`` must be a JSON schema (400 ``invalid_json_schema``)."""
    if body.tools and body.functions:
        raise refused_value(
            "tools_or_functions",
            "Use either 'tools' or the legacy 'functions', not both",
            param="functions",
        )
    if body.functions:
        defs, choice, field_name = body.functions, body.function_call, "function_call"
        parallel = False  # a legacy answer holds one call
    else:
        defs = [t.function for t in body.tools or []]
        choice, field_name = body.tool_choice, "tool_choice"
        parallel = body.parallel_tool_calls is not False
    if not defs:
        if choice not in (None, "none", "auto"):
            raise refused_value(
                "only_with_tools",
                "'{name}' is only allowed when tools are given",
                param=field_name,
                name=field_name,
            )
        return None
    names = [d.name for d in defs]
    if len(set(names)) != len(names):
        raise refused_value(
            "function_names_unique",
            "Function names must be unique",
            param="functions" if body.functions else "tools",
        )
    for i, d in enumerate(defs):  # whatever the model: as response_format's schema is
        if d.parameters is not None:
            where = f"functions[{i}]" if body.functions else f"tools[{i}].function"
            # strict: the arguments are promised valid, so what the grammar would drop is
            # refused (a uniqueItems array came back [0, 1, 1]), as for response_format
            check_schema(d.parameters, f"{where}.parameters", grammar=d.strict is True)
    mode, name = _choice(choice, field_name, set(names), legacy=bool(body.functions))
    return ToolSet(tuple(_function(d) for d in defs), mode, name, parallel)


def _function(definition: FunctionDef) -> FunctionTool:
    return FunctionTool(
        definition.name, definition.description, definition.parameters, definition.strict
    )


def _choice(choice: Any, param: str, names: set[str], legacy: bool) -> tuple[Any, str | None]:
    """("none" | "auto" | "required" | "named", the forced name)."""
    if choice is None:
        return "auto", None
    if isinstance(choice, str):
        if choice in _MODES and not (legacy and choice == "required"):
            return choice, None
        allowed = "none, auto" if legacy else "none, auto, required"
        raise refused_value(
            "tool_choice_mode",
            "'{name}' is one of {choices} or a named function",
            param=param,
            name=param,
            choices=allowed,
        )
    name = choice.get("name") if legacy else _named(choice, param)
    if not isinstance(name, str):
        raise refused_value(
            "tool_choice_names_function",
            "'{name}' names a function: {form}",
            param=param,
            name=param,
            form='{"name": ...}',
        )
    if name not in names:
        raise refused_value(
            "tool_choice_not_among_tools",
            "'{name}' names '{function}', which is not among the tools",
            param=param,
            name=param,
            function=str(untrusted.field(name)),
        )
    return "named", name


def _named(choice: dict[str, Any], param: str) -> Any:
    if choice.get("type") != "function" or not isinstance(choice.get("function"), dict):
        raise refused_value(
            "tool_choice_form",
            "'{name}' is {choices} or {named} (other tool types are not supported)",
            param=param,
            name=param,
            choices="none, auto, required",
            named='{"type": "function", "function": {"name": ...}}',
        )
    return choice["function"].get("name")


def chat_messages(body: ChatCompletionRequest) -> list[ChatMessage]:
    """The conversation as the model takes it: tool calls kept on assistant turns, each tool
    turn naming the call it answers; legacy function turns mapped onto them. A tool turn
    that answers no earlier call is a 400, as at OpenAI."""
    out: list[ChatMessage] = []
    open_calls: set[str] = set()
    legacy_ids: dict[str, list[str]] = {}  # function name → ids of its unanswered calls
    for i, message in enumerate(body.messages):
        text = message_text(message, i)
        calls = _calls(message, i, legacy_ids)
        if message.role == "assistant":
            open_calls = {c.id for c in calls}
            out.append(ChatMessage("assistant", text, tool_calls=calls))
        elif message.role in ("tool", "function"):
            call_id = _answered(message, i, open_calls, legacy_ids)
            out.append(ChatMessage("tool", text, tool_call_id=call_id))
        else:
            assert message.role != "function"  # answered above, as a tool turn
            out.append(ChatMessage(message.role, text))
            open_calls = set()
    return out


def _calls(message: Message, index: int, legacy_ids: dict[str, list[str]]) -> tuple[ToolCall, ...]:
    if message.role != "assistant" and (message.tool_calls or message.function_call):
        raise refused_value(
            "tool_calls_assistant_only",
            "Only assistant messages carry tool calls",
            param=f"messages[{index}].tool_calls",
        )
    calls = [
        ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []
    ]
    if message.function_call is not None:  # legacy: OpenAI gave such calls no id
        call_id = f"call_{secrets.token_hex(12)}"
        legacy_ids.setdefault(message.function_call.name, []).append(call_id)
        calls.append(ToolCall(call_id, message.function_call.name, message.function_call.arguments))
    return tuple(calls)


def _answered(
    message: Message, index: int, open_calls: set[str], legacy_ids: dict[str, list[str]]
) -> str:
    if message.role == "function":
        pending = legacy_ids.get(message.name or "", [])
        if not pending:
            raise refused_value(
                "function_message_unasked",
                "A 'function' message must follow an assistant message calling that function",
                param=f"messages[{index}].name",
            )
        return pending.pop(0)
    if message.tool_call_id is None:
        raise InvalidRequest(
            "A 'tool' message needs the 'tool_call_id' it answers",
            param=f"messages[{index}].tool_call_id",
            code="missing_required_parameter",
        )
    if message.tool_call_id not in open_calls:
        raise refused_value(
            "tool_message_unasked",
            "Messages with role 'tool' must answer a call of the preceding assistant message "
            "with 'tool_calls'",
            param=f"messages[{index}].tool_call_id",
        )
    return message.tool_call_id


def refuse_tool_history(body: ChatCompletionRequest, model: TextModel) -> None:
    """A model that takes no tools cannot read earlier calls: a 400 naming the message."""
    if "tools" in model.decoding_fields:
        return
    for i, message in enumerate(body.messages):
        if message.tool_calls or message.function_call:
            field_name = "tool_calls" if message.tool_calls else "function_call"
            raise refused_value(
                "history_not_read_by_model",
                "'{name}' is not supported by the model '{model}'",
                param=f"messages[{i}].{field_name}",
                code="unsupported_parameter",
                name=field_name,
                model=str(untrusted.field(body.model)),
            )


# --- the answer -------------------------------------------------------------------------------


@dataclass
class CallAssembler:
    """Tool-call deltas of one choice joined into whole calls, by index, in order."""

    calls: dict[int, list[str]] = field(default_factory=dict)  # index → [id, name, arguments]

    def add(self, delta: ToolCallDelta) -> None:
        call = self.calls.setdefault(delta.call_index, ["", "", ""])
        call[0] = delta.id or call[0]
        call[1] = delta.name or call[1]
        call[2] += delta.arguments

    def result(self) -> list[ToolCall]:
        return [
            ToolCall(call_id or f"call_{secrets.token_hex(12)}", name, arguments)
            for call_id, name, arguments in (self.calls[i] for i in sorted(self.calls))
        ]


def finish_reason(reason: str, called: bool, legacy: bool) -> str:
    """A choice that ends having called functions ends with "tool_calls" (OpenAI's reason;
    "function_call" for a legacy request), unless it was cut or filtered."""
    if reason == "tool_calls" or (called and reason == "stop"):
        return "function_call" if legacy else "tool_calls"
    return reason


def message(text: str, calls: list[ToolCall], legacy: bool) -> dict[str, Any]:
    """The assistant message of a JSON answer: content null when it only called functions."""
    out: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if not calls:
        return out
    out["content"] = text or None
    if legacy:
        out["function_call"] = {"name": calls[0].name, "arguments": calls[0].arguments}
    else:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in calls
        ]
    return out


def delta(piece: ToolCallDelta, legacy: bool) -> dict[str, Any] | None:
    """A streamed call's delta, as OpenAI sends it: the first of a call has its id, type and
    name (arguments ""), the next ones only ``index`` and argument fragments. A legacy answer
    holds one call (None for the deltas of any other)."""
    function: dict[str, Any] = {"arguments": piece.arguments}
    if piece.name is not None:
        function = {"name": piece.name} | function
    if legacy:
        return {"function_call": function} if piece.call_index == 0 else None
    entry: dict[str, Any] = {"index": piece.call_index}
    if piece.id is not None:
        entry |= {"id": piece.id, "type": "function"}
    return {"tool_calls": [entry | {"function": function}]}


def audit_codes(tools: ToolSet | None, messages: list[ChatMessage]) -> list[str]:
    """What the audit keeps of a request's function calling: how many tools were offered and
    tool results returned; no names of the caller's choosing beyond the validated function
    names, no arguments, no results."""
    codes = []
    if tools is not None:
        codes.append(f"tools:offered:{len(tools.tools)}")
    results = sum(1 for m in messages if m.role == "tool")
    if results:
        codes.append(f"tools:results:{results}")
    return codes


def called_codes(calls: list[ToolCall]) -> list[str]:
    """``tools:called:NAME:COUNT`` for each function the answer called (names only)."""
    counts = Counter(c.name for c in calls)
    return [f"tools:called:{untrusted.field(name)}:{n}" for name, n in counts.items()]
