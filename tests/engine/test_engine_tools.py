"""Tools and structured output on the continuous-batching engine: each request's grammar
processor runs on its own row of the batch, so every answer is valid with several constrained
requests decoding together, and when the engine preempts a request and recomputes its cache.

The model is a tiny random-weight Qwen2 (tests/models/tiny_qwen.py) whose chat template renders
tools; the grammar makes its calls and its JSON valid whatever the weights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from jsonschema import Draft202012Validator

from aigc.guard import structured
from aigc.models.engine.engine import EngineConfig
from aigc.models.engine.serving import EngineModel, load_engine_model
from aigc.models.protocols import ChatMessage, FunctionTool, TextRequest, ToolCallDelta, ToolSet
from aigc.models.text import neural
from tests.models.tiny_mistral import save_tiny_mistral
from tests.models.tiny_qwen import save_tiny_qwen
from tests.models.tool_fixtures import CLOCK, WEATHER, calls_of, check_forced_call


def schema(i: int) -> dict[str, Any]:
    """Eight different small schemas: names, enums and ranges differ per request."""
    return {
        "type": "object",
        "properties": {
            f"field_{i}": {"type": "integer", "minimum": i, "maximum": 10 + i},
            "colour": {"type": "string", "enum": ["red", "green", f"blue-{i}", "红色"]},
            "note": {"type": "string", "maxLength": 3 + i},
            "ok": {"type": "boolean"},
        },
        "required": [f"field_{i}", "colour", "note", "ok"],
        "additionalProperties": False,
    }


def tool_set(i: int) -> ToolSet:
    """Eight different tool sets: a function whose schema is ``schema(i)``, named or required."""
    tool = FunctionTool(f"record_{i}", None, schema(i))
    if i % 2:
        return ToolSet((tool, CLOCK), "named", tool.name)
    return ToolSet((tool, WEATHER), "required", parallel=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_qwen(tmp_path_factory.mktemp("models") / "qwen-tools")


@pytest.fixture(scope="module")
def model(folder: Path) -> Iterator[EngineModel]:
    torch.set_num_threads(1)
    served = load_engine_model(folder, EngineConfig(max_running=8), device="cpu")
    yield served
    served.engine.close()


class Steps:
    """A logits processor that notes at which engine steps its request decoded."""

    def __init__(self, model: EngineModel) -> None:
        self.engine = model.engine
        self.seen: set[int] = set()

    def __call__(self, generated: list[int], logits: torch.Tensor) -> torch.Tensor:
        self.seen.add(self.engine.stats.steps)
        return logits


def ask(tools: ToolSet | None = None, **extra: Any) -> TextRequest:
    return TextRequest(
        messages=[ChatMessage("user", "Record it, please. 请记录。")],
        max_tokens=160,
        temperature=0,
        tools=tools,
        **extra,
    )


def with_tools(model: EngineModel, request: TextRequest, *first: Any) -> TextRequest:
    assert request.tools is not None
    processor = structured.tool_processor(model, request.tools)
    return replace(request, logits_processors=(*first, processor))


def test_an_engine_served_checkpoint_takes_tools_and_structured_output(
    folder: Path, model: EngineModel
) -> None:
    capabilities = neural.capabilities_of({"path": str(folder), "engine": {}})
    assert {"tools", "structured_output"} <= capabilities and "logprobs" not in capabilities
    plain = neural.capabilities_of({"path": str(folder.parent), "engine": {}})  # no template
    assert "structured_output" in plain and "tools" not in plain
    assert model.tool_format == "hermes" and "tools" in model.decoding_fields


@pytest.mark.parametrize(
    "tools",
    [
        ToolSet((WEATHER, CLOCK), "named", "get_weather"),
        ToolSet((WEATHER, CLOCK), "required", parallel=False),
    ],
    ids=["named", "required"],
)
def test_forced_calls_through_the_engine_validate(model: EngineModel, tools: ToolSet) -> None:
    check_forced_call(list(model.generate(with_tools(model, ask(tools)))), tools)


def test_eight_concurrent_tool_requests_each_valid_under_its_own_schema(
    model: EngineModel,
) -> None:
    """Eight requests, eight different schemas, decoding in one batch (their steps overlap):
    each answer is a valid call of its own function, equal to the same request run alone."""
    requests = [ask(tool_set(i)) for i in range(8)]
    alone = [calls_of(list(model.generate(with_tools(model, r)))) for r in requests]
    steps = [Steps(model) for _ in requests]
    streams = [
        model.generate(with_tools(model, r, s)) for r, s in zip(requests, steps, strict=True)
    ]  # all submitted before any is read: they run together
    with ThreadPoolExecutor(8) as pool:
        together = [calls_of(p) for p in pool.map(list, streams)]
    assert len(set.intersection(*(s.seen for s in steps))) > 10  # one batch, many steps
    for i, calls in enumerate(together):
        assert len(calls) == 1
        name, arguments = calls[0]
        offered = {t.name: t.parameters for t in tool_set(i).callable}
        assert name in offered
        Draft202012Validator(offered[name]).validate(arguments)
    assert together == alone


def test_concurrent_json_schema_answers_are_valid(model: EngineModel) -> None:
    requests = []
    for i in range(8):
        constraint = structured.parse_constraint(
            {"response_format": {"type": "json_schema", "json_schema": {"schema": schema(i)}}}
        )
        assert constraint is not None
        processor = structured.processor_for(model, constraint)
        requests.append(replace(ask(), max_tokens=200, logits_processors=(processor,)))
    streams = [model.generate(r) for r in requests]
    with ThreadPoolExecutor(8) as pool:
        answers = ["".join(p) for p in pool.map(list, streams)]
    for i, text in enumerate(answers):
        Draft202012Validator(schema(i)).validate(json.loads(text))
    json_object = structured.processor_for(model, structured.Constraint("json_object"))
    text = "".join(model.generate(replace(ask(), logits_processors=(json_object,))))
    assert isinstance(json.loads(text), dict)


def test_preempted_constrained_requests_recompute_and_stay_valid(folder: Path) -> None:
    """A KV budget too small for six constrained requests at once: the engine preempts some
    and recomputes their caches later. Their grammar state follows their kept tokens, so each
    answer is valid and equal to the same request run alone."""
    per_block = 2 * 1 * 1 * 16 * 4 * 16  # tiny Qwen2: 1 layer, 1 KV head of 16, float32
    prompt = "Describe the weather in detail. " * 4
    # No prefix cache: six equal prompts would share their keys/values and never run short.
    budget = EngineConfig(
        max_running=6, token_budget=48, kv_cache_mb=24 * per_block / 2**20, prefix_cache_mb=0
    )
    small = load_engine_model(folder, budget, device="cpu")
    roomy = load_engine_model(folder, EngineConfig(max_running=1), device="cpu")
    try:
        requests = []
        for i in range(6):
            constraint = structured.parse_constraint(
                {"response_format": {"type": "json_schema", "json_schema": {"schema": schema(i)}}}
            )
            assert constraint is not None
            requests.append(
                (i, TextRequest(prompt=prompt, max_tokens=200, temperature=0), constraint)
            )

        def run(served: EngineModel, request: TextRequest, constraint: Any) -> Iterator[str]:
            processor = structured.processor_for(served, constraint)
            return served.generate(replace(request, logits_processors=(processor,)))

        streams = [run(small, r, c) for _, r, c in requests]
        together = ["".join(s) for s in streams]
        assert small.engine.stats.preemptions > 0
        for (i, request, constraint), text in zip(requests, together, strict=True):
            Draft202012Validator(schema(i)).validate(json.loads(text))
            assert text == "".join(run(roomy, request, constraint))
    finally:
        small.engine.close()
        roomy.engine.close()


def test_a_mistral_checkpoint_calls_through_the_engine(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = save_tiny_mistral(tmp_path_factory.mktemp("models") / "mistral")
    served = load_engine_model(folder, EngineConfig(max_running=4), device="cpu")
    try:
        assert served.tool_format == "mistral"
        tools = ToolSet((WEATHER, CLOCK), "named", "get_weather")
        pieces = list(served.generate(with_tools(served, ask(tools))))
        calls = calls_of(pieces)
        assert [name for name, _ in calls] == ["get_weather"]
        Draft202012Validator(WEATHER.parameters).validate(calls[0][1])
        deltas = [p for p in pieces if isinstance(p, ToolCallDelta) and p.id]
        assert len(deltas[0].id or "") == 9 and (deltas[0].id or "").isalnum()
    finally:
        served.engine.close()


def test_a_caller_leaving_a_tool_call_frees_its_slot(model: EngineModel) -> None:
    """The call parser wraps the engine's stream: closing it (the client went away), plain or
    on the event loop, still cancels the request in the engine, long before its end."""
    import asyncio
    import time

    tools = ToolSet((WEATHER, CLOCK), "required")  # parallel: calls until max_tokens
    engine = model.engine
    limit = 3000

    def request() -> TextRequest:
        return replace(with_tools(model, ask(tools)), max_tokens=limit)

    def wait_until_idle(before: int) -> None:
        deadline = time.monotonic() + 30
        while engine.scheduler.requests and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not engine.scheduler.requests
        assert engine.stats.tokens_out - before < limit  # cut short, not run to its end

    before = engine.stats.tokens_out
    stream = model.generate(request())
    assert isinstance(next(stream), ToolCallDelta)  # the first call is out
    stream.close()
    wait_until_idle(before)

    async def leave_early() -> None:
        pieces = model.agenerate(request())
        assert isinstance(await anext(pieces), ToolCallDelta)
        await pieces.aclose()  # type: ignore[attr-defined]

    before = engine.stats.tokens_out
    asyncio.run(leave_early())
    wait_until_idle(before)
