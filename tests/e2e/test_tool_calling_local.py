"""Function calling on a local Hugging Face chat model through a live server and the openai SDK:
a tiny random-weight Qwen2 whose chat template renders tools (tests/models/tiny_qwen.py), its
calls held valid by the tool-call grammar whatever the weights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from jsonschema import Draft202012Validator

from tests.e2e.server import Server, new_admin_key
from tests.models import tool_fixtures
from tests.models.tiny_qwen import save_tiny_qwen

MODEL = "hf-qwen-tools"
WEATHER = tool_fixtures.WEATHER.openai()  # OpenAI's {"type": "function", "function": ...}
CLOCK = tool_fixtures.CLOCK.openai()
SCHEMAS = tool_fixtures.SCHEMAS
ASK = [{"role": "user", "content": "What is the weather like?"}]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("models")
    save_tiny_qwen(root / "qwen")
    data = tmp_path_factory.mktemp("tools-server") / "data"
    srv = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    body = {"id": MODEL, "config": {"path": str(root / "qwen")}, "shared": True}
    made = srv.api("POST", "/api/models", json=body)
    assert made.status_code == 201, made.text
    yield srv
    srv.stop()


def create(server: Server, **extra: Any) -> Any:
    return server.sdk().chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER, CLOCK], temperature=0, max_tokens=120, **extra
    )


def test_named_call_plain_and_streamed(local: Server) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    plain = create(local, tool_choice=choice)
    answer = plain.choices[0]
    assert answer.finish_reason == "tool_calls" and answer.message.content is None
    calls = answer.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather"]
    Draft202012Validator(SCHEMAS["get_weather"]).validate(json.loads(calls[0].function.arguments))
    assert plain.usage is not None and plain.usage.completion_tokens > 0

    chunks = list(create(local, tool_choice=choice, stream=True))
    parts = [p for ch in chunks if ch.choices for p in ch.choices[0].delta.tool_calls or []]
    assert parts[0].id and parts[0].type == "function" and parts[0].function.name == "get_weather"
    arguments = "".join(p.function.arguments or "" for p in parts if p.function)
    assert arguments == calls[0].function.arguments  # greedy: the same call, streamed
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_required_call_and_its_result(local: Server) -> None:
    first = create(local, tool_choice="required", parallel_tool_calls=False)
    calls = first.choices[0].message.tool_calls or []
    assert len(calls) == 1 and calls[0].function.name in SCHEMAS
    Draft202012Validator(SCHEMAS[calls[0].function.name]).validate(
        json.loads(calls[0].function.arguments)
    )
    history: list[Any] = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18°C, sunny"},
    ]
    final = local.sdk().chat.completions.create(
        model=MODEL,
        messages=history,
        tools=[WEATHER, CLOCK],
        tool_choice="none",
        temperature=0,
        max_tokens=8,
    )
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].finish_reason in ("stop", "length")


def test_listed_with_tools_and_refusals(local: Server) -> None:
    listed = local.sdk().models.retrieve(MODEL)
    assert "tools" in (listed.model_extra or {})["capabilities"]
    with pytest.raises(openai.BadRequestError) as mixed:
        create(local, response_format={"type": "json_object"})
    assert mixed.value.response.json()["error"]["param"] == "tools"


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_cut_at_max_tokens_bills_the_tokens_made(local: Server, stream: bool) -> None:
    """The parser re-counted a call's joined text (and dropped the markup's tokens): usage
    billed other numbers than the model made. Cut at max_tokens, it made exactly that many."""
    extra: dict[str, Any] = {"tool_choice": "required", "max_tokens": 9}
    c = local.sdk()
    if stream:
        chunks = list(
            c.chat.completions.create(
                model=MODEL,
                messages=ASK,  # type: ignore[arg-type]
                tools=[WEATHER, CLOCK],  # type: ignore[list-item]
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                **extra,
            )
        )
        finish = next(
            ch.choices[0].finish_reason
            for ch in chunks
            if ch.choices and ch.choices[0].finish_reason
        )
        usage = chunks[-1].usage
    else:
        reply = c.chat.completions.create(
            model=MODEL,
            messages=ASK,  # type: ignore[arg-type]
            tools=[WEATHER, CLOCK],  # type: ignore[list-item]
            temperature=0,
            **extra,
        )
        finish, usage = reply.choices[0].finish_reason, reply.usage
    assert finish == "length"
    assert usage is not None and usage.completion_tokens == 9


def _picker(strict: bool | None) -> dict[str, Any]:
    """A function taking three distinct bits: no arguments satisfy it."""
    bits = {"type": "integer", "minimum": 0, "maximum": 1}
    xs = {"type": "array", "items": bits, "minItems": 3, "maxItems": 3, "uniqueItems": True}
    schema = {
        "type": "object",
        "properties": {"xs": xs},
        "required": ["xs"],
        "additionalProperties": False,
    }
    function: dict[str, Any] = {"name": "pick", "parameters": schema}
    if strict is not None:
        function["strict"] = strict
    return {"type": "function", "function": function}


def test_a_strict_tool_with_a_keyword_the_grammar_drops_is_a_400(local: Server) -> None:
    """strict promises valid arguments; the grammar drops uniqueItems, and [0, 1, 1] came
    back. Refused as response_format's schema is; without strict the schema guides only."""

    def call(strict: bool | None) -> Any:
        return local.sdk().chat.completions.create(
            model=MODEL,
            messages=ASK,  # type: ignore[arg-type]
            tools=[_picker(strict)],  # type: ignore[list-item]
            tool_choice="required",
            temperature=0,
            max_tokens=40,
        )

    with pytest.raises(openai.BadRequestError) as refused:
        call(True)
    assert refused.value.param == "tools[0].function.parameters"
    assert refused.value.code == "invalid_json_schema"
    assert "uniqueItems" in refused.value.message
    for strict in (None, False):
        assert call(strict).choices[0].message.tool_calls
