"""The body of a model's Ray Serve replica (``ray_serving.ModelServer``), called directly: how
it sends a model's pieces. No cluster needed: this is the code each replica runs.

An inline model (a template's microseconds of matching) answers in one message, on the
replica's loop; a paced model, or an inline one given a long input, streams its pieces from a
worker thread as they come. Both give exactly what the model itself yields."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aigc.models.base import INLINE_MAX_CHARS
from aigc.models.protocols import ChatMessage, TextRequest
from tests.templates import ECHO, slow, words

pytest.importorskip("ray")
from aigc.models.ray_serving import ModelServer, serve_options


def _server(yaml: str) -> ModelServer:
    return ModelServer("template", "template-x", {"yaml": yaml}, [])


def _ask(text: str) -> TextRequest:
    return TextRequest(messages=[ChatMessage("user", text)], max_tokens=4096)


async def _messages(server: ModelServer, request: TextRequest) -> list[list[Any]]:
    return [batch async for batch in server.generate(request)]


def _text(messages: list[list[Any]]) -> str:
    return "".join(text for batch in messages for text, _, _ in batch)


def test_an_inline_model_answers_in_one_message() -> None:
    server = _server(ECHO)
    assert server.model.runs_inline
    request = _ask("hello there")
    messages = asyncio.run(_messages(server, request))
    assert len(messages) == 1
    assert _text(messages) == "".join(server.model.generate(request)) == "You said: hello there"
    assert sum(tokens for _, tokens, _ in messages[0]) > 0  # counted where the tokenizer is
    assert server.requests == 1 and server.active == 0


def test_the_replica_counts_many_texts_in_one_call() -> None:
    """``count_texts``: what grounding asks for its candidate sources (one round trip)."""
    server = _server(ECHO)
    texts = ["hello world", "你好，世界", ""]
    assert server.count_texts(texts) == [server.model.count_tokens(t) for t in texts]
    assert server.stats()["counts"] == 1


def test_the_replica_counts_each_prompt_in_one_call() -> None:
    """``count_prompts``: each prompt of a completions list, which must fit the model's context
    on its own, counted in one round trip (a call per prompt before)."""
    from aigc.models.prompt_tokens import count_prompt_tokens

    server = _server(ECHO)
    requests = [_ask("hello there"), _ask("你好，世界，今天天气很好")]
    counted = server.count_prompts(requests)
    assert counted == [count_prompt_tokens(server.model, r) for r in requests]
    assert server.stats()["counts"] == 1


def test_a_paced_model_streams_its_pieces_as_they_come() -> None:
    server = _server(slow(words(6), pace_ms=30))
    assert not server.model.runs_inline
    messages = asyncio.run(_messages(server, _ask("a story please")))
    assert len(messages) > 1  # not held back until the end
    assert _text(messages).split() == words(6).split()
    assert server.active == 0


def test_a_long_input_to_an_inline_model_goes_to_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Matching is linear in the input: above INLINE_MAX_CHARS it leaves the replica's loop."""
    from aigc.models import ray_serving

    threaded: list[bool] = []
    real = ray_serving._in_thread

    def spy(pieces: Any) -> Any:
        threaded.append(True)
        return real(pieces)

    monkeypatch.setattr(ray_serving, "_in_thread", spy)
    server = _server(ECHO)
    short, long = _ask("x" * 10), _ask("y" * (INLINE_MAX_CHARS + 1))
    assert _text(asyncio.run(_messages(server, short))) == "You said: " + "x" * 10
    assert threaded == []
    assert _text(asyncio.run(_messages(server, long))) == "You said: " + "y" * (
        INLINE_MAX_CHARS + 1
    )
    assert threaded == [True]


def test_replicas_log_no_request_and_run_the_model_on_their_own_loop_unless_told() -> None:
    """Serve's per-request access log and its second user-code loop are off by default; an
    operator's own ``env_vars`` win, and their other runtime_env fields are kept."""
    plain = serve_options({"num_replicas": 2})
    assert plain["num_replicas"] == 2
    assert plain["logging_config"] == {"enable_access_log": False}
    env = plain["ray_actor_options"]["runtime_env"]["env_vars"]
    assert env == {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}

    own_env = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "1", "HF_HOME": "/models"}
    theirs = serve_options(
        {
            "ray_actor_options": {
                "num_gpus": 1,
                "runtime_env": {"pip": ["sentencepiece"], "env_vars": own_env},
            }
        }
    )
    actor = theirs["ray_actor_options"]
    assert actor["num_gpus"] == 1
    assert actor["runtime_env"]["pip"] == ["sentencepiece"]
    assert actor["runtime_env"]["env_vars"] == own_env
