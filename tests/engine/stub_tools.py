"""Function calling as the stub upstream does it: decided from the request alone, answered in
OpenAI's documented shapes (``message.tool_calls`` with ``finish_reason: "tool_calls"``; when
streaming, per call a first ``delta.tool_calls`` entry with index, id, type and name and
``arguments: ""``, then entries with only the index and argument fragments).

The decision, so tests can predict it:

    the last message is a tool result   → text "Tool results: " + the trailing results, " | "
    tools offered, tool_choice not none → the named function; else the functions whose name
                                          appears in the last user message (the first one
                                          only if parallel_tool_calls is false); "required"
                                          with no name mentioned: the first function; "auto"
                                          with none mentioned: no call (the usual words)

With no call, a chat's ``response_format`` shapes the text (``_formatted``), as an upstream that
enforces it would. Arguments are built from each function's JSON schema and the last user
message: a string is the whole message, an integer or number the next number written in it
(0 when none is left), an enum its first value, a boolean true, an array empty, an object
filled the same way.
Call ids are derived from the message, so the same request gets the same ids.

A tool message that answers no call of the assistant turn before it is a 400, as at OpenAI.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

FRAGMENT = 6  # characters of arguments per streamed delta


@dataclass
class Decision:
    text: str | None = None  # None: the stub's usual words
    calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI tool_calls entries
    preamble: str | None = None  # text said before the calls (streamed in its words)


def history_error(messages: list[dict[str, Any]]) -> str | None:
    """Why the conversation is not one OpenAI accepts (tool turns answering calls), or None."""
    open_ids: set[str] = set()
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            open_ids = {c.get("id") for c in message.get("tool_calls") or []}
        elif role == "tool":
            if message.get("tool_call_id") not in open_ids:
                return "messages with role 'tool' must be a response to a preceding 'tool_calls'"
        else:
            open_ids = set()
    return None


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return content or ""


def decide(body: dict[str, Any]) -> Decision:
    messages = body.get("messages") or []
    trailing = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        trailing.insert(0, _text(message))
    if trailing:
        return Decision(text="Tool results: " + " | ".join(trailing))
    tools = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice", "auto")
    user = next((_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    if not tools or choice == "none":
        return _formatted(body, user)
    if isinstance(choice, dict):
        chosen = [t for t in tools if t["name"] == choice["function"]["name"]]
    else:
        chosen = [t for t in tools if t["name"].lower() in user.lower()]
        if not chosen and choice == "required":
            chosen = tools[:1]
    if body.get("parallel_tool_calls") is False:
        chosen = chosen[:1]
    if not chosen:
        return _formatted(body, user)
    calls = []
    for i, tool in enumerate(chosen):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", user)]
        arguments = _value(tool.get("parameters") or {"type": "object"}, user, numbers)
        digest = hashlib.sha256(f"{user}\n{i}\n{tool['name']}".encode()).hexdigest()[:24]
        calls.append(
            {
                "id": f"call_{digest}",
                "type": "function",
                "function": {
                    "name": tool["name"],
                    "arguments": json.dumps(arguments, ensure_ascii=False),
                },
            }
        )
    return Decision(calls=calls)


def _formatted(body: dict[str, Any], user: str) -> Decision:
    """The answer in the body's ``response_format``, as a model that enforces it writes it: a
    json_schema's value built as tool arguments are; json_object: the first JSON object
    written in the message, else ``{"text": message}``. No format: the usual words."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", user)]
        value = _value(fmt["json_schema"].get("schema") or {}, user, numbers)
        return Decision(text=json.dumps(value, ensure_ascii=False))
    if fmt.get("type") == "json_object":
        written = re.search(r"\{.*\}", user, re.DOTALL)
        try:
            value = json.loads(written.group()) if written else {"text": user}
        except json.JSONDecodeError:
            value = {"text": user}
        return Decision(text=json.dumps(value, ensure_ascii=False))
    return Decision()


def _value(schema: dict[str, Any], text: str, numbers: list[float]) -> Any:
    """A value of ``schema`` made from the message (see the module's docstring)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _value(sub, text, numbers) for name, sub in properties.items()}
    if kind == "string":
        return text
    if kind in ("integer", "number"):
        number = numbers.pop(0) if numbers else 0
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    return None


def message(decision: Decision, words: str) -> dict[str, Any]:
    """The assistant message of a non-streamed answer."""
    if decision.calls:
        return {"role": "assistant", "content": decision.preamble, "tool_calls": decision.calls}
    return {"role": "assistant", "content": decision.text if decision.text else words}


def stream_deltas(decision: Decision, words: list[str]) -> list[dict[str, Any]]:
    """The ``delta`` of each streamed chunk, in order (the finish chunk not included)."""
    if not decision.calls:
        return [{"content": w} for w in ([decision.text] if decision.text else words)]
    deltas: list[dict[str, Any]] = [{"content": w} for w in words] if decision.preamble else []
    for index, call in enumerate(decision.calls):
        function = call["function"]
        head = {"index": index, "id": call["id"], "type": "function"}
        deltas.append(
            {"tool_calls": [head | {"function": {"name": function["name"], "arguments": ""}}]}
        )
        arguments = function["arguments"]
        for at in range(0, len(arguments), FRAGMENT):
            piece = {"index": index, "function": {"arguments": arguments[at : at + FRAGMENT]}}
            deltas.append({"tool_calls": [piece]})
    return deltas


def finish_reason(decision: Decision) -> str:
    return "tool_calls" if decision.calls else "stop"
