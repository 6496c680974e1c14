"""Function calling on a local Hugging Face chat model (a tiny random-weight Qwen2 whose chat
template renders tools): the template gets the tools and the history, decoding runs under the
tool-call grammar, and the model's text is read back as calls that validate."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from aigc.errors import InvalidRequest
from aigc.guard import structured
from aigc.models.protocols import (
    ChatMessage,
    FunctionTool,
    TextRequest,
    ToolCall,
    ToolCallDelta,
    ToolSet,
)
from aigc.models.stopping import BoundedText, CountedText, Ended
from aigc.models.text import hf, neural, tool_calls
from tests.models.tiny_qwen import TEMPLATE, save_tiny_qwen
from tests.models.tool_fixtures import (
    CLOCK,
    SCHEMAS,
    WEATHER,
    StartACall,
    calls_of,
    check_forced_call,
    run,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_qwen(tmp_path_factory.mktemp("models") / "qwen-tools")


@pytest.fixture(scope="module")
def model(folder: Path) -> neural.NeuralTextModel:
    return hf.load({"path": str(folder)})


def ask(tools: ToolSet, messages: list[ChatMessage] | None = None) -> TextRequest:
    messages = messages or [ChatMessage("user", "What is the weather like?")]
    return TextRequest(messages=messages, max_tokens=120, temperature=0, tools=tools)


def test_the_template_decides_the_format_and_the_capability(folder: Path) -> None:
    assert tool_calls.format_of(TEMPLATE) == "hermes"
    assert tool_calls.format_of("{% for m in messages %}{{ m.content }}{% endfor %}") is None
    llama_like = '{% if tools %}ipython {"name": name, "parameters": ...}{% endif %}'
    assert tool_calls.format_of(llama_like) == "llama"
    assert "tools" in neural.capabilities_of({"path": str(folder)})
    assert "tools" in neural.capabilities_of({"path": str(folder), "engine": {}})
    assert "tools" not in neural.capabilities_of({"path": str(folder.parent)})  # no template


def test_the_template_renders_tools_calls_and_results(model: neural.NeuralTextModel) -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Paris", "days": 2}')
    history = [
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "18°C", tool_call_id="call_1"),
    ]
    prompt = model.tokenizer.decode(model.prompt_ids(ask(ToolSet((WEATHER, CLOCK)), history)))
    assert '"name": "get_weather"' in prompt and '"name": "get_time"' in prompt
    assert (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}' in prompt
    )
    assert "<tool_response>\n18°C\n</tool_response>" in prompt
    none = model.tokenizer.decode(model.prompt_ids(ask(ToolSet((WEATHER,), "none"))))
    assert "<tools>" not in none  # tool_choice none: the model is not offered them


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
    check_forced_call(run(model, ask(tools)), tools)


def test_auto_a_started_call_completes_as_valid_json(model: neural.NeuralTextModel) -> None:
    tools = ToolSet((WEATHER, CLOCK), "auto", parallel=False)
    trigger = model.tokenizer.hf.convert_tokens_to_ids("<tool_call>")
    calls = calls_of(run(model, ask(tools), StartACall(trigger)))
    assert len(calls) == 1
    name, arguments = calls[0]
    Draft202012Validator(SCHEMAS[name]).validate(arguments)
    # Left alone, the random model writes text: auto does not force a call.
    free = run(model, ask(tools))
    assert calls_of(free) == [] and any(p and not isinstance(p, ToolCallDelta) for p in free)


def test_a_tool_schema_no_grammar_can_hold_says_why_without_xgrammar_s_log_prefix(
    model: neural.NeuralTextModel,
) -> None:
    """The 400 quoted xgrammar's message whole: '[11:38:28] /project/cpp/json_schema_
    converter.cc:5082: enum array must not be empty'. Now its reason alone, coded."""
    tool = FunctionTool("f", None, {"type": "object", "properties": {"a": {"enum": []}}})
    with pytest.raises(InvalidRequest) as refused:
        structured.tool_processor(model, ToolSet((tool,), "auto", None, True))
    assert refused.value.message == (
        "The tools' parameters cannot be enforced while decoding: enum array must not be empty"
    )
    assert refused.value.param == "tools" and refused.value.code == "invalid_json_schema"


def test_parser_reads_text_calls_and_cut_calls() -> None:
    parser = tool_calls.CallParser("hermes", len)
    text = 'Let me check. <tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>\n'
    pieces = list(parser.feed([text[:20], text[20:50], text[50:], Ended("stop")]))
    assert pieces[0] == "Let me check. "
    assert calls_of(pieces) == [("f", {"a": 1})]
    assert [p.finish_reason for p in pieces if isinstance(p, Ended)] == ["tool_calls"]
    cut = list(
        tool_calls.CallParser("hermes", len).feed(
            ['<tool_call>\n{"name": "g", "arguments": {"b"', Ended("length")]
        )
    )
    partial = [p for p in cut if isinstance(p, ToolCallDelta)]
    assert partial[0].name == "g" and partial[1].arguments == '{"b"'
    assert [p.finish_reason for p in cut if isinstance(p, Ended)] == ["length"]


def test_a_string_argument_may_hold_the_end_marker() -> None:
    """The parser split at the first ``</tool_call>``, which the grammar lets the model write
    inside a JSON string: the call failed to parse and its markup came back as content."""
    text = (
        '<tool_call>\n{"name": "get_weather", "arguments": {\n"city"\t: "c</tool_call>x"\n}}'
        "\n</tool_call>"
    )
    for cuts in ([len(text)], [30, 62, 64, 70]):  # whole, and streamed in pieces
        bounds = [0, *cuts, len(text)]
        pieces = [text[a:b] for a, b in pairwise(bounds)]
        out = list(tool_calls.CallParser("hermes", len).feed([*pieces, Ended("stop")]))
        assert calls_of(out) == [("get_weather", {"city": "c</tool_call>x"})]
        assert not [p for p in out if p and not isinstance(p, ToolCallDelta)]
        assert [p.finish_reason for p in out if isinstance(p, Ended)] == ["tool_calls"]


def test_a_forced_call_whose_string_holds_the_end_marker_is_still_a_call(
    model: neural.NeuralTextModel,
) -> None:
    """Seed 2 makes the random model write ``</tool_call>`` inside the city (checked below):
    the answer was that markup as content, with no tool_calls."""
    city = FunctionTool(
        "get_weather",
        None,
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    tools = ToolSet((city,), "named", "get_weather")
    request = TextRequest(
        messages=[ChatMessage("user", "weather in Paris and time in UTC")],
        max_tokens=200,
        seed=2,
        tools=tools,
    )
    pieces = run(model, request)
    calls = calls_of(pieces)
    assert len(calls) == 1 and "</tool_call>" in calls[0][1]["city"]
    assert not [p for p in pieces if p and not isinstance(p, ToolCallDelta)]
    assert [p.finish_reason for p in pieces if isinstance(p, Ended)] == ["tool_calls"]


def test_a_call_cut_by_max_tokens_is_its_arguments_and_never_markup() -> None:
    """Cut after the call's object closed, its arguments kept the wrapper's brace
    ('{"a"\\t:88\\r}}', not JSON); cut inside a call's name, its markup came back as content
    beside the calls already made."""
    closed = '<tool_call>\n{"name": "f", "arguments": {"a"\t:88\r}}'
    out = list(tool_calls.CallParser("hermes", len).feed([closed, Ended("length")]))
    assert [p.arguments for p in out if isinstance(p, ToolCallDelta)] == ["", '{"a":88}']
    assert [p.finish_reason for p in out if isinstance(p, Ended)] == ["length"]
    made = '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>\n'
    unnamed = '<tool_call>\n{"name": "f", "'
    for before in ("", made):
        out = list(tool_calls.CallParser("hermes", len).feed([before, unnamed, Ended("length")]))
        assert calls_of(out) == ([("f", {"a": 1})] if before else [])
        assert not [p for p in out if p and not isinstance(p, ToolCallDelta)]
        assert [p.finish_reason for p in out if isinstance(p, Ended)] == ["length"]


@pytest.mark.parametrize(
    ("fmt", "head", "tail"),
    [
        ("hermes", '<tool_call>\n{"name": "f", "arguments": ', "}\n</tool_call>"),
        ("llama", '{"name": "f", "parameters": ', "}"),
        ("mistral", '[TOOL_CALLS] [{"name": "f", "arguments": ', "}]"),
        ("mistral_args", "[TOOL_CALLS]f[ARGS] ", ""),
    ],
)
def test_a_call_streamed_token_by_token_is_decoded_once(
    fmt: str, head: str, tail: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each piece of a call re-decoded the whole call written so far as JSON (quadratic in
    its length); now the brackets are followed as the pieces come and the call is decoded
    once it closes. Counted on the real decoder."""
    decoded: list[int] = []
    raw_decode = json.JSONDecoder.raw_decode

    def counted(self: json.JSONDecoder, s: str, idx: int = 0) -> tuple[object, int]:
        decoded.append(len(s) - idx)
        return raw_decode(self, s, idx)

    monkeypatch.setattr(json.JSONDecoder, "raw_decode", counted)
    arguments = {"城市": '北京 {[x]} "quoted" \\', "days": list(range(300))}
    text = head + json.dumps(arguments, ensure_ascii=False) + tail
    out = list(tool_calls.CallParser(fmt, len).feed([*text, Ended("stop")]))
    # the call's JSON once (llama, mistral_args: its arguments again, to write them compact)
    assert len(decoded) == (1 if fmt in ("hermes", "mistral") else 2), decoded
    assert calls_of(out) == [("f", arguments)]


@pytest.mark.parametrize("fmt", ["hermes", "llama", "mistral"])
def test_the_tokens_billed_are_the_tokens_generated(fmt: str) -> None:
    """The parser joined the pieces and dropped their token counts: a call was billed as its
    text re-counted, the markup and whitespace around calls not at all. Each piece here is
    one token generated (``CountedText``), which re-counting (``len``) would not give."""
    texts = {
        "hermes": ['Sure. <tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>\n'],
        "llama": ['{"name": "f", "parameters": {"a": 1}}'],
        "mistral": ['[TOOL_CALLS] [{"name": "f", "arguments": {"a": 1}}]'],
    }[fmt]
    pieces = [CountedText(text[i : i + 3], 1) for text in texts for i in range(0, len(text), 3)]
    for ending in (Ended("stop"), None):
        fed = [*pieces, ending] if ending is not None else pieces
        bounded = BoundedText(
            tool_calls.CallParser(fmt, len).feed(fed), stop=[], max_tokens=1000, count_tokens=len
        )
        out = list(bounded)
        assert calls_of(out) == [("f", {"a": 1})]
        assert bounded.tokens == len(pieces)  # one per piece generated, whatever their text
