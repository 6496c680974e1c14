"""Mistral's tool-call formats on a local Hugging Face chat model: a tiny random-weight
Mistral whose chat template (written in tests/models/tiny_mistral.py in the shape of
Mistral's own) renders tools. ``[TOOL_CALLS]`` is a special token, as in Mistral's tokenizers:
the parser must still see it, the grammar (built from xgrammar's structural-tag parts, keyed
on the marker's token id) must hold the calls to the schemas, and the template's 9-character
call ids must be met whatever ids the client sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from jsonschema import Draft202012Validator

from aigc.models.protocols import (
    ChatMessage,
    TextRequest,
    ToolCall,
    ToolCallDelta,
    ToolSet,
)
from aigc.models.stopping import Ended
from aigc.models.text import hf, neural, tool_calls
from tests.models.tiny_mistral import TEMPLATE_NEMO, TEMPLATE_V3, TEMPLATE_V11, save_tiny_mistral
from tests.models.tool_fixtures import (
    CLOCK,
    SCHEMAS,
    WEATHER,
    StartACall,
    calls_of,
    check_forced_call,
    run,
)

# Test model → (its format, chat template, SentencePiece tokenizer?): Nemo/Ministral-like
# (byte-level), Mistral-7B-v0.3-like (SentencePiece with byte fallback), v11+.
MODELS = {
    "v3": ("mistral", TEMPLATE_V3, False),
    "v3-sentencepiece": ("mistral", TEMPLATE_V3, True),
    "nemo": ("mistral", TEMPLATE_NEMO, False),
    "v11": ("mistral_args", TEMPLATE_V11, False),
}


@pytest.fixture(scope="module", params=list(MODELS))
def folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    _, template, sentencepiece = MODELS[request.param]
    return save_tiny_mistral(root / request.param, template, sentencepiece=sentencepiece)


@pytest.fixture(scope="module")
def model(folder: Path) -> neural.NeuralTextModel:
    torch.set_num_threads(1)
    return hf.load({"path": str(folder)})


def ask(
    tools: ToolSet, messages: list[ChatMessage] | None = None, max_tokens: int = 120
) -> TextRequest:
    messages = messages or [ChatMessage("user", "What is the weather like? 天气如何？")]
    return TextRequest(messages=messages, max_tokens=max_tokens, temperature=0, tools=tools)


def test_the_template_decides_the_format_and_the_capability(
    folder: Path, model: neural.NeuralTextModel
) -> None:
    assert tool_calls.format_of(TEMPLATE_V3) == "mistral"
    assert tool_calls.format_of(TEMPLATE_V11) == "mistral_args"
    assert model.tool_format == MODELS[folder.name][0]
    assert "tools" in neural.capabilities_of({"path": str(folder)})
    assert "tools" in neural.capabilities_of({"path": str(folder), "engine": {}})


def test_the_history_renders_with_mistral_call_ids(model: neural.NeuralTextModel) -> None:
    """OpenAI-style ids (``call_…``) in the history: the template, which insists on 9
    characters, gets the same 9-alphanumeric id for the call and for its result."""
    call = ToolCall("call_0123456789abcdef01234567", "get_weather", '{"city": "北京", "days": 2}')
    history = [
        ChatMessage("user", "Weather in Beijing?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "18°C", tool_call_id=call.id),
        ChatMessage("user", "And tomorrow?"),
    ]
    with pytest.raises(Exception, match="length 9"):  # the template's own check, unmapped
        model.tokenizer.hf.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in history[:1]]
            + [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": call.id, "type": "function", "function": {}}],
                }
            ],
            tokenize=False,
        )
    ids = model.prompt_ids(ask(ToolSet((WEATHER, CLOCK)), history))
    prompt = model.tokenizer.hf.decode(ids)  # special tokens kept, to see the markers
    short = tool_calls.mistral_id(call.id)
    assert len(short) == 9 and short.isalnum() and tool_calls.mistral_id(short) == short
    if model.tool_format == "mistral":  # v3 writes the id with the call and with its result
        assert prompt.count(short) == 2 and call.id not in prompt
    else:
        assert '[TOOL_CALLS]get_weather[ARGS]{"city": "北京", "days": 2}' in prompt
    assert "[AVAILABLE_TOOLS]" in prompt and '"name": "get_time"' in prompt
    assert "北京" in prompt and "18°C" in prompt
    none = model.tokenizer.hf.decode(model.prompt_ids(ask(ToolSet((WEATHER,), "none"))))
    assert "[AVAILABLE_TOOLS]" not in none  # tool_choice none: the model is not offered them


@pytest.mark.parametrize(
    "tools",
    [
        ToolSet((WEATHER, CLOCK), "named", "get_weather"),
        ToolSet((WEATHER, CLOCK), "named", "get_time"),
        ToolSet((WEATHER, CLOCK), "required", parallel=False),
    ],
    ids=["named-weather", "named-time", "required"],
)
def test_forced_calls_validate_whatever_the_weights(
    model: neural.NeuralTextModel, tools: ToolSet
) -> None:
    pieces = run(model, ask(tools))
    check_forced_call(pieces, tools)
    first = next(p for p in pieces if isinstance(p, ToolCallDelta))
    assert first.id is not None and len(first.id) == 9 and first.id.isalnum()


def test_required_parallel_calls_each_validate(model: neural.NeuralTextModel) -> None:
    """Parallel calls (one array, or one ``[TOOL_CALLS]`` each): every whole call valid; a
    last call cut by ``max_tokens`` comes as far as it was written, with ``length``."""
    pieces = run(model, ask(ToolSet((WEATHER, CLOCK), "required"), max_tokens=200))
    joined: dict[int, list[str]] = {}
    for p in pieces:
        if isinstance(p, ToolCallDelta):
            joined.setdefault(p.call_index, ["", ""])
            joined[p.call_index][0] += p.name or ""
            joined[p.call_index][1] += p.arguments
    [reason] = reasons(pieces)
    whole = list(joined.values()) if reason == "tool_calls" else list(joined.values())[:-1]
    assert joined and reason in ("tool_calls", "length")
    for name, arguments in whole:
        Draft202012Validator(SCHEMAS[name]).validate(json.loads(arguments))


def test_auto_a_started_call_completes_as_valid_json(model: neural.NeuralTextModel) -> None:
    tools = ToolSet((WEATHER, CLOCK), "auto", parallel=False)
    trigger = model.tokenizer.hf.convert_tokens_to_ids("[TOOL_CALLS]")
    pieces = run(model, ask(tools), StartACall(trigger))
    calls = calls_of(pieces)
    assert len(calls) == 1
    name, arguments = calls[0]
    Draft202012Validator(SCHEMAS[name]).validate(arguments)
    assert [p.finish_reason for p in pieces if isinstance(p, Ended)] == ["tool_calls"]
    # Left alone, the random model does not start a call: auto does not force one.
    assert calls_of(run(model, ask(tools))) == []


class Written:
    """A logits processor that keeps the tokens generated so far (it changes nothing)."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self, generated: list[int], logits: torch.Tensor) -> torch.Tensor:
        self.ids = list(generated)
        return logits


def test_the_grammar_writes_the_templates_own_shape(
    folder: Path, model: neural.NeuralTextModel
) -> None:
    """What the model writes, markers included, is what its template writes for a call: v3
    with a blank before the array, Nemo without, v11 ``name[ARGS]``."""
    written = Written()
    run(model, ask(ToolSet((WEATHER, CLOCK), "named", "get_time")), written)
    text = model.tokenizer.decode(written.ids, shown=model.markers)
    expected = {
        "v3": '[TOOL_CALLS] [{"name": "get_time", "arguments": {',
        "v3-sentencepiece": '[TOOL_CALLS] [{"name": "get_time", "arguments": {',
        "nemo": '[TOOL_CALLS][{"name": "get_time", "arguments": {',
        "v11": "[TOOL_CALLS]get_time[ARGS]{",
    }[folder.name]
    assert text.startswith(expected), text


def test_decoding_shows_the_markers_only_to_the_parser(model: neural.NeuralTextModel) -> None:
    tok = model.tokenizer
    ids = tok.encode("[TOOL_CALLS] [1]", special=False)
    assert tok.decode(ids) == " [1]"  # skip_special_tokens: the marker is gone
    assert tok.decode(ids, shown=model.markers) == "[TOOL_CALLS] [1]"
    assert tok.decode(tok.encode("北京 ok", special=False), shown=model.markers) == "北京 ok"


def feed(fmt: str, pieces: list[str]) -> list[str]:
    return list(tool_calls.CallParser(fmt, len).feed(pieces))


def reasons(pieces: list[str]) -> list[str]:
    return [p.finish_reason for p in pieces if isinstance(p, Ended)]


def test_parser_reads_mistral_v3_arrays() -> None:
    one = '[TOOL_CALLS] [{"name": "f", "arguments": {"a": 1, "城市": "北京"}}]'
    pieces = feed("mistral", [one[:15], one[15:40], one[40:], Ended("stop")])
    assert calls_of(pieces) == [("f", {"a": 1, "城市": "北京"})]
    assert reasons(pieces) == ["tool_calls"]
    assert not [p for p in pieces if p and not isinstance(p, ToolCallDelta)]

    parallel = (
        '[TOOL_CALLS][{"name": "f", "arguments": {"a": 1}}, '
        '{"name": "g", "arguments": {"b": [2, 3]}}]'
    )
    pieces = feed("mistral", [*parallel, Ended("stop")])  # one character at a time
    assert calls_of(pieces) == [("f", {"a": 1}), ("g", {"b": [2, 3]})]
    assert [p.call_index for p in pieces if isinstance(p, ToolCallDelta)] == [0, 0, 1, 1]

    before = feed("mistral", ["Let me check. ", '[TOOL_CALLS] [{"name": "f", "arguments": {}}]'])
    assert before[0] == "Let me check. " and calls_of(before) == [("f", {})]

    cut = feed(
        "mistral",
        ['[TOOL_CALLS] [{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": {"b"'],
    )
    deltas = [p for p in cut if isinstance(p, ToolCallDelta)]
    assert [d.name for d in deltas if d.name] == ["f", "g"] and deltas[-1].arguments == '{"b"'
    early = feed("mistral", ['[TOOL_CALLS] [{"na', Ended("length")])
    assert [p for p in early if p] == [] and reasons(early) == ["length"]

    text = feed("mistral", ["No call here [1, 2]", Ended("stop")])
    assert "".join(text) == "No call here [1, 2]" and reasons(text) == ["stop"]


def test_parser_reads_mistral_v11_calls() -> None:
    two = '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "days": 2}[TOOL_CALLS]get_time[ARGS]{}'
    pieces = feed("mistral_args", [*two, Ended("stop")])
    assert calls_of(pieces) == [("get_weather", {"city": "Paris", "days": 2}), ("get_time", {})]
    assert reasons(pieces) == ["tool_calls"]
    before = feed("mistral_args", ["好的。", "[TOOL_CALLS]f[ARGS]", '{"a": [1]}'])
    assert before[0] == "好的。" and calls_of(before) == [("f", {"a": [1]})]
    cut = feed("mistral_args", ['[TOOL_CALLS]f[ARGS]{"a": ', Ended("length")])
    deltas = [p for p in cut if isinstance(p, ToolCallDelta)]
    assert deltas[0].name == "f" and deltas[1].arguments == '{"a": '
    assert reasons(cut) == ["length"]
