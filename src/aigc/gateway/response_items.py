"""Responses API items ↔ the chat pipeline's request and answer.

    request:  instructions                        → a system message first
              input text / message items          → user, system, developer, assistant messages
              function_call items                 → the assistant turn's tool_calls
              function_call_output items          → tool messages
              tools (flat function definitions)   → chat tools; tool_choice likewise
              text.format                         → response_format (structured output)
              knowledge_bases (an extra field)    → the same field: a grounded answer, and
                                                    the response carries its citations
    answer:   text and tool calls of the choice   → a message item with output_text, then one
                                                    function_call item per call

So a Responses request runs through exactly the chat completions stages (validation, guard,
limits, audit); anything here that cannot be translated is a 400 naming its place in the body.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, NamedTuple, get_args

from pydantic import ValidationError

from aigc.errors import InvalidRequest, problem_detail, refused_value
from aigc.gateway.response_schemas import ResponseRequest
from aigc.gateway.schemas import ChatCompletionRequest, Verbosity, check_schema_name
from aigc.infra import untrusted
from aigc.knowledge.citing import MarkerMode, marker_matches
from aigc.models.protocols import ToolCall

_ROLES = ("user", "system", "developer", "assistant")


def input_items(body: ResponseRequest) -> list[dict[str, Any]]:
    """The request's input as a list of items (a string is one user message)."""
    if isinstance(body.input, str):
        return [{"type": "message", "role": "user", "content": body.input}] if body.input else []
    return list(body.input)


VERBOSITIES: tuple[str, ...] = get_args(Verbosity)


class Bridged(NamedTuple):
    """The chat request, and where in the Responses body each of its messages came from."""

    chat: ChatCompletionRequest
    places: list[str]  # messages[k] came from places[k]: instructions, input[i], or history


def chat_body(body: ResponseRequest, history: list[dict[str, Any]]) -> Bridged:
    """The chat completions request that answers ``body`` after the stored ``history``."""
    messages: list[dict[str, Any]] = []
    places: list[str] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
        places.append("instructions")
    items = input_items(body)
    for place, item in [("previous_response_id", h) for h in history] + [
        (f"input[{i}]", x) for i, x in enumerate(items)
    ]:
        _add(messages, item, place)
        places += [place] * (len(messages) - len(places))
    if not messages:
        raise InvalidRequest("'input' is empty", param="input", code="missing_required_parameter")
    fields: dict[str, Any] = {"model": body.model, "messages": messages, "stream": body.stream}
    if body.tools:
        fields["tools"] = [_tool(t, i) for i, t in enumerate(body.tools)]
    if body.tool_choice is not None:
        fields["tool_choice"] = _tool_choice(body.tool_choice)
    if body.parallel_tool_calls is not None:
        fields["parallel_tool_calls"] = body.parallel_tool_calls
    if body.max_output_tokens is not None:
        fields["max_completion_tokens"] = body.max_output_tokens
    for name in ("temperature", "top_p", "seed", "user"):
        if getattr(body, name) is not None:
            fields[name] = getattr(body, name)
    if body.reasoning is not None and body.reasoning.effort is not None:
        fields["reasoning_effort"] = body.reasoning.effort  # an upstream's; else a 400
    verbosity = (body.text or {}).get("verbosity")
    if verbosity is not None:
        fields["verbosity"] = _verbosity(verbosity)
    response_format = _format((body.text or {}).get("format"))
    if response_format is not None:
        fields["response_format"] = response_format
    extra = body.model_extra or {}
    if "knowledge_bases" in extra:  # checked by the grounding stage, as in chat
        fields["knowledge_bases"] = extra["knowledge_bases"]
    try:
        return Bridged(ChatCompletionRequest.model_validate(fields), places)
    except ValidationError as exc:  # a shape our checks above let through
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidRequest(
            f"Invalid value in the request ({untrusted.field(where)}): {first.get('msg')}",
            param="input",
            code="invalid_value",
            details=[problem_detail("input", first)],
        ) from None


def _verbosity(value: Any) -> str:
    """``text.verbosity``, one of OpenAI's values (a 400 naming it otherwise)."""
    if value not in VERBOSITIES:
        raise refused_value(
            "param_choice",
            "Invalid value for 'text.verbosity': '{value}' is not one of {choices}",
            param="text.verbosity",
            value=str(untrusted.field(str(value))),
            choices=", ".join(VERBOSITIES),
        )
    return str(value)


# Chat's fields that come from a Responses field of another name.
_RENAMED = {
    "messages": "input",
    "max_completion_tokens": "max_output_tokens",
    "reasoning_effort": "reasoning.effort",
    "verbosity": "text.verbosity",
}


def input_param(places: list[str], param: str | None) -> str | None:
    """A chat stage's ``messages[k]...`` param as the Responses body's place for it, so a 400
    names what the client sent (``input[i].call_id``, not ``messages[k].tool_call_id``;
    ``tools[i].parameters``, not ``tools[i].function.parameters``)."""
    if param in _RENAMED:
        return _RENAMED[param]
    if param is not None and param.startswith("response_format"):  # json_schema's fields: flat
        return "text.format" + param.removeprefix("response_format").replace(".json_schema", "")
    tool = re.fullmatch(r"(tools\[\d+\])\.function(\..+)", param or "")
    if tool is not None:  # a Responses tool is flat: tools[i].parameters
        return tool.group(1) + tool.group(2)
    found = re.fullmatch(r"messages\[(\d+)\](.*)", param or "")
    if found is None or int(found.group(1)) >= len(places):
        return param
    rest = found.group(2).replace(".tool_call_id", ".call_id")
    return places[int(found.group(1))] + rest


_CHAT_PLACE = re.compile(
    r"(?:messages|tools)\[\d+\](?:\.[A-Za-z_]+|\[\d+\])*|(?<=')(?:reasoning_effort|verbosity)(?=')"
)


def input_message(places: list[str], message: str) -> str:
    """A chat stage's message with each ``messages[k]...`` or ``tools[i].function...`` place
    it names written as ``input_param`` writes the param, so message and param agree."""
    return _CHAT_PLACE.sub(lambda m: input_param(places, m.group(0)) or m.group(0), message)


def _add(messages: list[dict[str, Any]], item: Any, place: str) -> None:
    """One input item onto the chat messages (calls join the assistant turn before them)."""
    if not isinstance(item, dict):
        raise refused_value("input_item_not_object", "Each input item is an object", param=place)
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise refused_value(
                "param_choice",
                "'role' is one of {choices}",
                param=f"{place}.role",
                choices=", ".join(_ROLES),
            )
        messages.append({"role": role, "content": _content(item.get("content"), place)})
    elif kind == "function_call":
        call = {
            "id": _text_field(item, "call_id", place),
            "type": "function",
            "function": {
                "name": _text_field(item, "name", place),
                "arguments": _text_field(item, "arguments", place, allow_empty=True),
            },
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":  # its calls, in order
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else _content(output, f"{place}.output")
        messages.append(
            {"role": "tool", "tool_call_id": _text_field(item, "call_id", place), "content": text}
        )
    else:
        raise refused_value(
            "input_item_type_unsupported",
            "Input items of type '{type}' are not supported by this server",
            param=f"{place}.type",
            code="unsupported_parameter",
            type=str(untrusted.field(str(kind))),
        )


def _content(content: Any, place: str) -> str | list[dict[str, Any]]:
    """A message's content as chat takes it: text parts, images as ``image_url`` parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise refused_value(
            "content_text_or_parts",
            "'content' is a string or a list of parts",
            param=f"{place}.content",
        )
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image = {"url": part["image_url"], "detail": part.get("detail") or "auto"}
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise refused_value(
                "content_part_type_unsupported",
                "Content parts of type '{type}' are not supported by this server",
                param=f"{place}.content[{j}]",
                code="unsupported_content",
                type=str(untrusted.field(str(kind))),
            )
    return parts


def _text_field(item: dict[str, Any], name: str, place: str, allow_empty: bool = False) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not (value or allow_empty):
        raise InvalidRequest(
            f"Missing required parameter: '{place}.{name}'",
            param=f"{place}.{name}",
            code="missing_required_parameter",
        )
    return value


def _tool(tool: dict[str, Any], index: int) -> dict[str, Any]:
    """A Responses function tool (flat: name, parameters, strict) as chat's nested shape."""
    if tool.get("type") != "function":
        raise refused_value(
            "tool_type_unsupported",
            "Tools of type '{type}' are not supported by this server; only 'function' tools are",
            param=f"tools[{index}].type",
            code="unsupported_parameter",
            type=str(untrusted.field(str(tool.get("type")))),
        )
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    return {"type": "function", "function": function}


def _tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """none / auto / required as they are; a named function in chat's nested shape."""
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise refused_value(
        "tool_choice_form",
        "'tool_choice' is {choices} or {named} (other tool types are not supported)",
        param="tool_choice",
        code="unsupported_parameter",
        choices="none, auto, required",
        named='{"type": "function", "name": ...}',
    )


def _format(text_format: Any) -> dict[str, Any] | None:
    """``text.format`` as chat's ``response_format``: json_schema's fields move one level in."""
    if text_format is None:
        return None
    if not isinstance(text_format, dict) or text_format.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        raise refused_value(
            "param_choice",
            "'text.format' is text, json_object or json_schema",
            param="text.format",
            choices="text, json_object, json_schema",
        )
    if text_format["type"] != "json_schema":
        return {"type": text_format["type"]}
    check_schema_name(text_format, "text.format.name")
    schema = {
        k: text_format[k] for k in ("name", "schema", "strict", "description") if k in text_format
    }
    return {"type": "json_schema", "json_schema": schema}


# --- the answer -------------------------------------------------------------------------------


def output_items(
    text: str,
    calls: list[ToolCall],
    status: str = "completed",
    citations: list[dict[str, Any]] | None = None,
    mode: MarkerMode = "text",
) -> list[dict[str, Any]]:
    """The answer as output items: the text (when any, or when nothing was called) as one
    assistant message, then one function_call item per call, in order."""
    items: list[dict[str, Any]] = []
    if text or not calls:
        annotations = citation_annotations(text, citations or [], mode)
        items.append(message_item(new_id("msg"), text, status, annotations))
    items += [call_item(new_id("fc"), c.id, c.name, c.arguments, status) for c in calls]
    return items


def message_item(
    item_id: str, text: str, status: str, annotations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [text_part(text, annotations)],
    }


def text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations or [], "logprobs": []}


def citation_annotations(
    text: str, citations: list[dict[str, Any]], mode: MarkerMode = "text"
) -> list[dict[str, Any]]:
    """A grounded answer's citations as the Responses API's ``file_citation`` annotations:
    one per source a ``[n]`` marker of the text names, ``index`` the marker's offset in the
    text (as OpenAI's file search places them), ``file_id`` the knowledge base's document id.
    Only markers where they count (``citing.marker_matches``: not in code, in a JSON answer's
    strings). Sources cited by matching sentences (no marker) are in ``citations`` only."""
    if not citations:
        return []
    by_index = {c["index"]: c for c in citations}
    annotations = []
    for offset, numbers in marker_matches(text, mode):
        for number in numbers:
            cited = by_index.get(number)
            if cited is not None:
                annotations.append(
                    {
                        "type": "file_citation",
                        "file_id": cited["document"],
                        "filename": cited["filename"],
                        "index": offset,
                    }
                )
    return annotations


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"
