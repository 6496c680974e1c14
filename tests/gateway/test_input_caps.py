"""Per-request input caps (issue 14, defect 3): a 400 naming the parameter, before any work."""

from __future__ import annotations

import pytest

from aigc.errors import InvalidRequest
from aigc.gateway.schemas import ChatCompletionRequest, CompletionRequest, check_input_size


def _chat(*contents: str) -> ChatCompletionRequest:
    messages = [{"role": "user", "content": c} for c in contents]
    return ChatCompletionRequest.model_validate({"model": "m", "messages": messages})


def _refusal(body: object, **caps: int) -> InvalidRequest:
    limits = {"max_chars": 100, "max_messages": 3, "max_prompts": 4} | caps
    with pytest.raises(InvalidRequest) as caught:
        check_input_size(body, **limits)  # type: ignore[arg-type]
    return caught.value


def test_within_the_caps_counts_the_characters() -> None:
    assert check_input_size(_chat("ab", "cde"), 100, 3, 4) == 5
    prompts = CompletionRequest.model_validate({"model": "m", "prompt": ["hi"] * 4})
    assert check_input_size(prompts, 100, 3, 4) == 8


def test_one_long_message_is_named() -> None:
    error = _refusal(_chat("ok", "x" * 101))
    assert (error.param, error.code) == ("messages[1].content", "string_above_max_length")


def test_messages_long_together_are_named() -> None:
    error = _refusal(_chat("x" * 60, "y" * 60))
    assert (error.param, error.code) == ("messages", "string_above_max_length")


def test_too_many_messages() -> None:
    error = _refusal(_chat("a", "b", "c", "d"))
    assert (error.param, error.code) == ("messages", "array_above_max_length")


def test_too_many_prompts_and_too_long_prompts() -> None:
    many = CompletionRequest.model_validate({"model": "m", "prompt": ["hi"] * 5})
    assert (_refusal(many).param, _refusal(many).code) == ("prompt", "array_above_max_length")
    long = CompletionRequest.model_validate({"model": "m", "prompt": "z" * 101})
    assert (_refusal(long).param, _refusal(long).code) == ("prompt", "string_above_max_length")


def test_content_parts_count_too() -> None:
    body = ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 101}]}],
        }
    )
    assert _refusal(body).param == "messages[0].content"
