"""Function calling and structured output through a live server and the openai SDK on the two
serving paths issue 19 left: a Mistral checkpoint (``[TOOL_CALLS]`` format, 9-character call
ids) served directly, and a Qwen2 checkpoint served by the continuous-batching engine
(``"engine": {...}`` in its config), with several constrained requests in one batch.

Both are tiny random-weight models built by the tests (tests/models/tiny_mistral.py,
tests/models/tiny_qwen.py): the grammar makes their calls and JSON valid whatever the weights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from jsonschema import Draft202012Validator

from tests.e2e.server import Server, new_admin_key
from tests.models import tool_fixtures
from tests.models.tiny_mistral import save_tiny_mistral
from tests.models.tiny_qwen import save_tiny_qwen

MISTRAL = "hf-mistral-tools"
ENGINE = "hf-qwen-engine"
WEATHER = tool_fixtures.WEATHER.openai()  # OpenAI's {"type": "function", "function": ...}
CLOCK = tool_fixtures.CLOCK.openai()
SCHEMAS = tool_fixtures.SCHEMAS
ASK = [{"role": "user", "content": "What is the weather like? 天气怎么样？"}]


def schema(i: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            f"field_{i}": {"type": "integer", "minimum": i, "maximum": 10 + i},
            "colour": {"type": "string", "enum": ["red", f"blue-{i}", "红色"]},
            "ok": {"type": "boolean"},
        },
        "required": [f"field_{i}", "colour", "ok"],
        "additionalProperties": False,
    }


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("models")
    save_tiny_mistral(root / "mistral")
    save_tiny_qwen(root / "qwen")
    data = tmp_path_factory.mktemp("tools-server") / "data"
    srv = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    for body in (
        {"id": MISTRAL, "config": {"path": str(root / "mistral")}, "shared": True},
        {
            "id": ENGINE,
            "config": {"path": str(root / "qwen"), "engine": {"max_running": 8}},
            "shared": True,
        },
    ):
        made = srv.api("POST", "/api/models", json=body)
        assert made.status_code == 201, made.text
    yield srv
    srv.stop()


def create(server: Server, model: str, **extra: Any) -> Any:
    options = {"messages": ASK, "tools": [WEATHER, CLOCK], "temperature": 0, "max_tokens": 120}
    return server.sdk().chat.completions.create(model=model, **(options | extra))


def valid_call(call: Any) -> None:
    assert call.function.name in SCHEMAS
    Draft202012Validator(SCHEMAS[call.function.name]).validate(json.loads(call.function.arguments))


def test_models_list_tools_for_both_paths(local: Server) -> None:
    for model in (MISTRAL, ENGINE):
        capabilities = (local.sdk().models.retrieve(model).model_extra or {})["capabilities"]
        assert "tools" in capabilities and "structured_output" in capabilities
    engine = (local.sdk().models.retrieve(ENGINE).model_extra or {})["capabilities"]
    assert "logprobs" not in engine


@pytest.mark.parametrize("model", [MISTRAL, ENGINE])
def test_named_call_plain_and_streamed(local: Server, model: str) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    plain = create(local, model, tool_choice=choice)
    answer = plain.choices[0]
    assert answer.finish_reason == "tool_calls" and answer.message.content is None
    calls = answer.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather"]
    valid_call(calls[0])
    if model == MISTRAL:
        assert len(calls[0].id) == 9 and calls[0].id.isalnum()  # Mistral's own id shape

    chunks = list(create(local, model, tool_choice=choice, stream=True))
    parts = [p for ch in chunks if ch.choices for p in ch.choices[0].delta.tool_calls or []]
    assert parts[0].id and parts[0].function and parts[0].function.name == "get_weather"
    arguments = "".join(p.function.arguments or "" for p in parts if p.function)
    assert arguments == calls[0].function.arguments  # greedy: the same call, streamed
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("given_id", ["own", "call_0123456789abcdefghijklmn"])
def test_mistral_tool_result_round_trip(local: Server, given_id: str) -> None:
    """The call and its result go back into a Mistral template that accepts only 9-character
    ids: with the id the server gave, and with an OpenAI-style id from another model."""
    first = create(local, MISTRAL, tool_choice="required", parallel_tool_calls=False)
    calls = first.choices[0].message.tool_calls or []
    assert len(calls) == 1
    valid_call(calls[0])
    said = first.choices[0].message.model_dump(exclude_none=True)
    call_id = calls[0].id if given_id == "own" else given_id
    said["tool_calls"][0]["id"] = call_id
    history: list[Any] = [
        *ASK,
        said,
        {"role": "tool", "tool_call_id": call_id, "content": "18°C, 晴"},
    ]
    final = local.sdk().chat.completions.create(
        model=MISTRAL,
        messages=history,
        tools=[WEATHER, CLOCK],
        tool_choice="none",
        temperature=0,
        max_tokens=8,
    )
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].finish_reason in ("stop", "length")


def test_engine_eight_concurrent_calls_each_valid(local: Server) -> None:
    def call(i: int) -> tuple[int, Any]:
        tool = {"type": "function", "function": {"name": f"record_{i}", "parameters": schema(i)}}
        answer = local.sdk().chat.completions.create(
            model=ENGINE,
            messages=ASK,
            tools=[tool, CLOCK],
            tool_choice={"type": "function", "function": {"name": f"record_{i}"}},
            temperature=0,
            max_tokens=150,
        )
        return i, answer

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))
    for i, answer in answers:
        calls = answer.choices[0].message.tool_calls or []
        assert [c.function.name for c in calls] == [f"record_{i}"]
        Draft202012Validator(schema(i)).validate(json.loads(calls[0].function.arguments))


def test_engine_structured_output_under_concurrency(local: Server) -> None:
    def ask(i: int) -> tuple[int, str]:
        answer = local.sdk().chat.completions.create(
            model=ENGINE,
            messages=ASK,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": f"s{i}", "schema": schema(i)},
            },
            temperature=0.8,
            seed=i,
            max_tokens=150,
        )
        return i, answer.choices[0].message.content or ""

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    for i, content in answers:
        Draft202012Validator(schema(i)).validate(json.loads(content))
    streamed = local.sdk().chat.completions.create(
        model=ENGINE,
        messages=ASK,
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=150,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert isinstance(json.loads(text), dict)


def test_engine_refusals_stay_clear(local: Server) -> None:
    with pytest.raises(openai.BadRequestError) as mixed:
        create(local, ENGINE, response_format={"type": "json_object"})
    assert mixed.value.response.json()["error"]["param"] == "tools"
    with pytest.raises(openai.BadRequestError) as logprobs:
        local.sdk().chat.completions.create(model=ENGINE, messages=ASK, logprobs=True, max_tokens=4)
    assert logprobs.value.response.json()["error"]["param"] == "logprobs"
