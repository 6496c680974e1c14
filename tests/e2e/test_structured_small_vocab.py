"""Structured output on a model whose vocabulary lacks characters the format needs, through a
live server and the official ``openai`` SDK.

A char- or word-level model trained on text without braces or digits (``aigc train gpt -p
tokenizer=char``) cannot spell every JSON answer: the grammar reaches a step where no token is
allowed, and sampling from nothing raised (a 500; a stream cut without its end; on the batching
engine every request of the step failed). Now a format the vocabulary cannot write is a 400
naming ``response_format`` before anything runs, and a grammar that dead-ends midway ends the
answer there instead of failing it.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.e2e.server import Server, new_admin_key
from tests.engine.tiny_lm import letters_tokenizer, save_tiny_gpt2

ALPHABET = "abcdefghijklmnopqrstuvwxyz {"  # a brace to begin JSON with, none to end it
MODELS = ["gpt-letters", "gpt-letters-engine"]  # the neural decoder and the batching engine
ASK = [{"role": "user", "content": "say something"}]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("letters-model")
    tokenizer = letters_tokenizer(ALPHABET)
    save_tiny_gpt2(root / "letters", tokenizer=tokenizer, vocab_size=len(tokenizer))
    data = tmp_path_factory.mktemp("letters-server") / "data"
    server = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    path = str(root / "letters")
    server.register_shared(
        {
            "gpt-letters": {"path": path},
            "gpt-letters-engine": {"path": path, "engine": {"max_running": 4, "max_queue": 8}},
        }
    )
    yield server
    server.stop()


def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=server.admin_key, max_retries=0)


SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "required": ["a"],
            "additionalProperties": False,
        },
    },
}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("response_format", [{"type": "json_object"}, SCHEMA])
@pytest.mark.parametrize("stream", [False, True])
def test_a_format_the_vocabulary_cannot_write_is_a_400(
    srv: Server, model: str, response_format: dict[str, object], stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        reply = client(srv).chat.completions.create(
            model=model,
            messages=ASK,
            response_format=response_format,  # type: ignore[arg-type]
            max_tokens=20,
            stream=stream,
        )
        if stream:
            list(reply)  # type: ignore[arg-type]
    assert refused.value.status_code == 400
    assert refused.value.param == "response_format"
    assert "'}'" in refused.value.message  # the first character it cannot write


@pytest.mark.parametrize("model", MODELS)
def test_the_responses_api_names_text_format(srv: Server, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(srv).responses.create(
            model=model, input="hi", text={"format": {"type": "json_object"}}
        )
    assert refused.value.param == "text.format"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_grammar_that_dead_ends_midway_ends_the_answer(
    srv: Server, model: str, stream: bool
) -> None:
    """``ab7``: the vocabulary spells ``ab`` and has no digit. The answer stops there."""
    c = client(srv)
    kwargs = {
        "model": model,
        "messages": ASK,
        "max_tokens": 10,
        "extra_body": {"guided_regex": "ab7"},
    }
    if stream:
        chunks = list(c.chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        reply = c.chat.completions.create(**kwargs)  # type: ignore[call-overload]
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
    assert (text, finish) == ("ab", "stop")
    # The model still answers others (on the engine, the step's other requests were failed).
    plain = c.chat.completions.create(model=model, messages=ASK, max_tokens=5, temperature=0)
    assert plain.choices[0].finish_reason in ("stop", "length")
