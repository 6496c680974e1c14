"""Responses items → the chat request the pipeline runs (no server): each kind of item lands on
the message OpenAI's chat shape has for it, and what cannot be translated is a 400 naming it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from aigc.errors import InvalidRequest
from aigc.gateway.response_items import (
    chat_body,
    citation_annotations,
    input_param,
    output_items,
)
from aigc.gateway.response_schemas import ResponseRequest, refuse_unsupported
from aigc.gateway.response_stream import _Events
from aigc.models.protocols import ToolCall, ToolCallDelta

CALL_A = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"x": 1}'}
CALL_B = {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"}


def body(**fields: Any) -> ResponseRequest:
    return ResponseRequest.model_validate({"model": "m"} | fields)


def test_parallel_calls_join_one_assistant_turn_and_results_follow() -> None:
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "go"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok"}],
        },
        CALL_A,
        CALL_B,
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": "two"},
    ]
    chat, places = chat_body(body(input=items, instructions="be brief"), [])
    assert places == ["instructions", "input[0]", "input[1]", "input[4]", "input[5]"]
    roles = [(m.role, m.tool_call_id) for m in chat.messages]
    assert roles == [
        ("system", None),
        ("user", None),
        ("assistant", None),
        ("tool", "c1"),
        ("tool", "c2"),
    ]
    assert [c.id for c in chat.messages[2].tool_calls or []] == ["c1", "c2"]
    assert chat.messages[2].tool_calls[0].function.arguments == '{"x": 1}'  # type: ignore[index]


def test_history_comes_before_the_input_and_instructions_first() -> None:
    earlier = [{"type": "message", "role": "user", "content": "before"}, CALL_A]
    chat, _ = chat_body(
        body(
            input=[{"type": "function_call_output", "call_id": "c1", "output": "r"}],
            instructions="i",
        ),
        earlier,
    )
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "tool"]


def test_tools_choice_limits_and_format_map_onto_chat_fields() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat, _ = chat_body(
        body(
            input="hi",
            tools=[{"type": "function", "name": "f", "parameters": schema, "strict": True}],
            tool_choice={"type": "function", "name": "f"},
            parallel_tool_calls=False,
            max_output_tokens=7,
            text={"format": {"type": "json_schema", "name": "out", "schema": schema}},
        ),
        [],
    )
    assert chat.tools is not None and chat.tools[0].function.name == "f"
    assert chat.tools[0].function.strict is True
    assert chat.tool_choice == {"type": "function", "function": {"name": "f"}}
    assert chat.parallel_tool_calls is False and chat.output_limit == 7
    assert chat.model_extra is not None
    assert chat.model_extra["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema},
    }


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]},
            "input[0].name",
        ),
        ({"input": "x", "tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
    ],
)
def test_untranslatable_items_name_their_place(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        chat_body(body(**fields), [])
    assert refused.value.param == param


@pytest.mark.parametrize("empty", ["", []])
def test_an_empty_input_is_refused_by_the_request_schema(empty: object) -> None:
    """The document says ``input`` is required and not empty, and the server holds to it."""
    with pytest.raises(ValidationError) as refused:
        ResponseRequest.model_validate({"model": "m", "input": empty})
    assert all(error["loc"][0] == "input" for error in refused.value.errors())


def test_unsupported_fields_are_refused_by_name() -> None:
    refuse_unsupported(body(input="x", truncation="disabled", reasoning=None))
    with pytest.raises(InvalidRequest) as refused:
        refuse_unsupported(body(input="x", truncation="auto"))
    assert refused.value.param == "truncation"


def test_output_items_text_then_calls() -> None:
    items = output_items("thinking", [ToolCall("c1", "f", "{}")])
    assert [i["type"] for i in items] == ["message", "function_call"]
    assert items[0]["content"][0] == {
        "type": "output_text",
        "text": "thinking",
        "annotations": [],
        "logprobs": [],
    }
    assert items[1]["call_id"] == "c1" and items[1]["id"].startswith("fc_")
    only_calls = output_items("", [ToolCall("c1", "f", "{}")])
    assert [i["type"] for i in only_calls] == ["function_call"]
    assert [i["type"] for i in output_items("", [])] == ["message"]  # an empty answer


def test_chat_params_are_named_as_the_client_wrote_them() -> None:
    places = ["instructions", "previous_response_id", "input[0]", "input[2]"]
    assert input_param(places, "messages[3].tool_call_id") == "input[2].call_id"
    assert input_param(places, "messages[2].content[1]") == "input[0].content[1]"
    assert input_param(places, "messages") == "input"
    assert input_param(places, "response_format.json_schema.schema") == "text.format.schema"
    assert input_param(places, "tool_choice") == "tool_choice"
    assert input_param(places, "tools[1].function.parameters") == "tools[1].parameters"
    assert input_param(places, None) is None


def test_citations_become_file_citation_annotations_where_their_markers_stand() -> None:
    """Every source a marker names, at the marker's offset ("[1, 2]" names two; full-width
    【2】 too); a number no citation has is no annotation; no marker, no annotation."""
    cited = [
        {"index": 1, "document": "doc_a", "filename": "a.pdf"},
        {"index": 2, "document": "doc_b", "filename": "b.md"},
    ]
    text = "Lunch is at noon [1, 2]. 打印机在二楼【2】。 See [7]."
    found = citation_annotations(text, cited)
    assert found == [
        {"type": "file_citation", "file_id": "doc_a", "filename": "a.pdf", "index": 17},
        {"type": "file_citation", "file_id": "doc_b", "filename": "b.md", "index": 17},
        {"type": "file_citation", "file_id": "doc_b", "filename": "b.md", "index": 31},
    ]
    assert text[17:23] == "[1, 2]" and text[31] == "【"
    assert citation_annotations("No marker here.", cited) == []
    # only markers where they count: not in code, and in a JSON answer only in its strings
    assert citation_annotations("Use `items[1]` or my_list[2].", cited) == []
    json_answer = '{"floors": [1, 2], "answer": "On floor 2 [2]."}'
    found = citation_annotations(json_answer, cited, "json")
    assert [(a["filename"], a["index"]) for a in found] == [("b.md", json_answer.index("[2]."))]


def test_a_streamed_message_closed_by_a_tool_call_is_annotated_as_it_closes() -> None:
    """Text, then a tool call: the message item closes mid-answer with the annotations of the
    markers it holds (their numbers are final once written), and its events say so before its
    ``output_text.done``, as for a message that closes at the end."""
    cited = [{"index": 1, "document": "doc_a", "filename": "a.pdf"}]
    events = _Events(lambda: cited)
    events.text_delta("Printer P-204 is on floor 2 [1].")
    sent = b"".join(events.call_delta(ToolCallDelta(0, id="call_1", name="lookup", arguments="{}")))
    annotation = {"type": "file_citation", "file_id": "doc_a", "filename": "a.pdf", "index": 28}
    assert events.output[0]["content"][0]["annotations"] == [annotation]
    assert sent.index(b"response.output_text.annotation.added") < sent.index(
        b"response.output_text.done"
    )
    done = [
        json.loads(line[len(b"data: ") :])
        for line in sent.split(b"\n")
        if line.startswith(b"data: ") and b'"response.output_item.done"' in line
    ]
    assert done[0]["item"]["content"][0]["annotations"] == [annotation]
    events.close(cited)
    assert events.output[1]["type"] == "function_call"

    ungrounded = _Events()
    ungrounded.text_delta("Printer P-204 is on floor 2.")
    ungrounded.call_delta(ToolCallDelta(0, id="call_2", name="lookup", arguments="{}"))
    assert ungrounded.output[0]["content"][0]["annotations"] == []

    last = _Events()
    last.text_delta("It is there [1].")
    sent = b"".join(last.close(cited))
    assert b"response.output_text.annotation.added" in sent
    assert last.output[0]["content"][0]["annotations"][0]["index"] == 12
