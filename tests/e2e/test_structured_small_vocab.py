"""Structured output on a model whose vocabulary lacks characters the format needs, through a
live server and the official ``openai`` SDK.

A char- or word-level model trained on text without braces or digits (``aigc train gpt -p
tokenizer=char``) cannot spell every JSON answer: the grammar reaches a step where no token is
allowed, and sampling from nothing raised (a 500; a stream cut without its end; on the batching
engine every request of the step failed). Now a format the vocabulary cannot write is a 400
naming ``response_format`` before anything runs, and a grammar that dead-ends midway is the
same error once found (the answer ended there was sent as a complete one, finish_reason
"stop"), on chat, completions and responses, streamed or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from aigc.console import api as console_api
from aigc.console.api_errors import explain_error
from aigc.console.i18n import Translator
from tests.e2e.server import Server, new_admin_key
from tests.engine.tiny_lm import letters_tokenizer, save_tiny_gpt2

ALPHABET = "abcdefghijklmnopqrstuvwxyz {"  # a brace to begin JSON with, none to end it
MODELS = ["gpt-letters", "gpt-letters-engine"]  # the neural decoder and the batching engine
NO_DIGITS = ALPHABET + '}[]":,'  # every mark of JSON, no digit: JSON it writes, numbers not
JSON_MODELS = ["gpt-nodigits", "gpt-nodigits-engine"]
ASK = [{"role": "user", "content": "say something"}]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("letters-model")
    tokenizer = letters_tokenizer(ALPHABET)
    save_tiny_gpt2(root / "letters", tokenizer=tokenizer, vocab_size=len(tokenizer))
    json_tokenizer = letters_tokenizer(NO_DIGITS)
    save_tiny_gpt2(root / "nodigits", tokenizer=json_tokenizer, vocab_size=len(json_tokenizer))
    data = tmp_path_factory.mktemp("letters-server") / "data"
    server = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    path, json_path = str(root / "letters"), str(root / "nodigits")
    engine = {"max_running": 4, "max_queue": 8}
    server.register_shared(
        {
            "gpt-letters": {"path": path},
            "gpt-letters-engine": {"path": path, "engine": engine},
            "gpt-nodigits": {"path": json_path},
            "gpt-nodigits-engine": {"path": json_path, "engine": engine},
        }
    )
    yield server
    server.stop()


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
        reply = srv.sdk().chat.completions.create(
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
        srv.sdk().responses.create(
            model=model, input="hi", text={"format": {"type": "json_object"}}
        )
    assert refused.value.param == "text.format"


DEAD_END = {"guided_regex": "ab7"}  # the vocabulary spells "ab" and has no digit


def _refused_midway(error: openai.APIError) -> None:
    assert "cannot write the requested format" in error.message, error.message
    assert "after 2 token(s)" in error.message


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_grammar_that_dead_ends_midway_is_an_error_on_chat(
    srv: Server, model: str, stream: bool
) -> None:
    """``ab7``: the answer stopped at ``ab`` and was sent with finish_reason "stop", a
    complete answer that does not match. Now the client gets an error in OpenAI's shape: a
    400 naming the field, or, streamed, the stream's last event (the SDK raises it)."""
    c = srv.sdk()
    kwargs = {"model": model, "messages": ASK, "max_tokens": 10, "extra_body": DEAD_END}
    if stream:
        with pytest.raises(openai.APIError) as failed:
            list(c.chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
    else:
        with pytest.raises(openai.BadRequestError) as failed:
            c.chat.completions.create(**kwargs)  # type: ignore[call-overload]
        assert failed.value.param == "guided_regex"
    _refused_midway(failed.value)
    # The model still answers others (on the engine, the step's other requests were failed).
    plain = c.chat.completions.create(model=model, messages=ASK, max_tokens=5, temperature=0)
    assert plain.choices[0].finish_reason in ("stop", "length")


@pytest.mark.anyio
async def test_a_dead_end_mid_stream_is_said_in_chinese_on_the_console(srv: Server) -> None:
    """The stream's last event carries the kind and values (error_details) the header could
    not (it went before the stream); the console's client raises it, and the chat page says
    it in Chinese. Before, the console read past the error event: a cut answer, no word."""
    raw = srv.api(
        "POST",
        "/v1/chat/completions",
        json={"model": MODELS[0], "messages": ASK, "max_tokens": 10, "stream": True} | DEAD_END,
    )
    last = json.loads(raw.text.strip().split("data: ")[-1])
    assert set(last["error"]) == {"message", "type", "param", "code"}
    assert last["error_details"][0]["type"] == "vocabulary_dead_end"
    console_api.configure("127.0.0.1", srv.port)
    api = console_api.Api(srv.admin_key)
    body = {"model": MODELS[0], "messages": ASK, "max_tokens": 10} | DEAD_END
    try:
        with pytest.raises(console_api.ApiError) as failed:
            async for _ in api.stream("/v1/chat/completions", body):
                pass
    finally:
        await console_api.close()
    error = failed.value
    assert (error.status, error.code, error.param) == (400, "unsupported_value", "guided_regex")
    assert explain_error(Translator("en"), error) == error.message
    said = explain_error(Translator("zh-CN"), error)
    assert said.startswith("请求被拒绝（该模型的词表写不出所要求的格式：生成 2 个词元后"), said
    assert "vocabulary" not in said


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_grammar_that_dead_ends_midway_is_an_error_on_completions(
    srv: Server, model: str, stream: bool
) -> None:
    c = srv.sdk()
    kwargs = {"model": model, "prompt": "say", "max_tokens": 10, "extra_body": DEAD_END}
    if stream:
        with pytest.raises(openai.APIError) as failed:
            list(c.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
    else:
        with pytest.raises(openai.BadRequestError) as failed:
            c.completions.create(**kwargs)  # type: ignore[call-overload]
        assert failed.value.param == "guided_regex"
    _refused_midway(failed.value)


@pytest.mark.parametrize("model", JSON_MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_grammar_that_dead_ends_midway_fails_the_response(
    srv: Server, model: str, stream: bool
) -> None:
    """The Responses API, a schema asking for a number of a model without digits: a 400
    naming ``text.format``, or streamed, ``response.failed``."""
    c = srv.sdk()
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    fmt = {"format": {"type": "json_schema", "name": "a", "schema": schema}}
    if stream:
        events = list(c.responses.create(model=model, input="hi", text=fmt, stream=True))  # type: ignore[arg-type]
        assert events[-1].type == "response.failed", [e.type for e in events]
        error = events[-1].response.error  # type: ignore[union-attr]
        assert error is not None and "cannot write the requested format" in error.message
    else:
        with pytest.raises(openai.BadRequestError) as failed:
            c.responses.create(model=model, input="hi", text=fmt)  # type: ignore[arg-type]
        assert failed.value.param == "text.format"
        assert "cannot write the requested format" in failed.value.message


@pytest.mark.parametrize("model", JSON_MODELS)
def test_a_failed_streamed_response_carries_its_kind(srv: Server, model: str) -> None:
    """``response.failed`` carries, beside the response, the kind and values (error_details)
    chat's error event carries; before, only the response's code and English message, so a
    client could not say it in its reader's language. The SDK still reads the event."""
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    body = {
        "model": model,
        "input": "hi",
        "text": {"format": {"type": "json_schema", "name": "a", "schema": schema}},
    }
    raw = srv.api("POST", "/v1/responses", json=body | {"stream": True})
    last = json.loads(raw.text.strip().split("data: ")[-1])
    assert last["type"] == "response.failed", raw.text[-500:]
    assert set(last["response"]["error"]) == {"code", "message"}
    (detail,) = last["error_details"]
    assert detail["type"] == "vocabulary_dead_end"
    assert detail["ctx"]["tokens"] >= 1
    assert detail["message"] == last["response"]["error"]["message"]
    said = Translator("zh-CN")(f"problem.{detail['type']}", **detail["ctx"])
    assert said.startswith("该模型的词表写不出所要求的格式")
    events = list(srv.sdk().responses.create(stream=True, **body))  # type: ignore[call-overload]
    assert events[-1].type == "response.failed"
