"""Function calling on a local Hugging Face chat model (a tiny random-weight Qwen2 whose chat
template renders tools): the template gets the tools and the history, decoding runs under the
tool-call grammar, and the model's text is read back as calls that validate."""

from __future__ import annotations

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
from aigc.models.stopping import Ended
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
