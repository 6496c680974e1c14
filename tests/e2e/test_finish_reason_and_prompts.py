"""Issue 16, findings 1 and 2, through a live server and the official ``openai`` SDK.

1. ``finish_reason`` is ``"length"`` when max_tokens ended the text, for every family that stops
   at the limit by itself (n-gram, GPT; plain, streamed, on the batching engine) and for
   structured output, so ``.parse()`` raises ``LengthFinishReasonError``; ``"stop"`` when the
   model ended or a stop sequence matched.
2. ``/v1/completions`` with a list of prompts answers each prompt (``n`` choices each, indexed
   in order) with usage summed, as OpenAI does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from aigc.models.text.ngram import TrainParams, train_on_texts
from tests.e2e.server import Server, new_admin_key
from tests.engine.tiny_lm import save_silent_gpt2, save_tiny_gpt2
from tests.templates import ECHO

LINES = [
    "The quick brown fox jumps over the lazy dog.\nThe fox is quick.",
    "Language models assign probabilities to sentences.\nA dog is lazy.",
] * 4
GPT_MODELS = ["gpt-tiny", "gpt-tiny-engine"]  # the neural decoder and the batching engine


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("finish-models")
    save_tiny_gpt2(root / "tiny", vocab_size=257)  # the tokenizer's 256 bytes and end-of-text
    save_silent_gpt2(root / "silent")  # every token padding: text "", tokens still made
    train_on_texts(LINES, TrainParams(order=2, tokenizer="word"), root / "ngram")
    data = tmp_path_factory.mktemp("finish-server") / "data"
    server = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    tiny = str(root / "tiny")
    models = {
        "gpt-tiny": {"path": tiny},
        "gpt-tiny-engine": {"path": tiny, "engine": {"max_running": 4, "max_queue": 8}},
        "ngram-tiny": {"path": str(root / "ngram")},
        "gpt-silent": {"path": str(root / "silent")},
        "gpt-silent-engine": {
            "path": str(root / "silent"),
            "engine": {"max_running": 4, "max_queue": 8},
        },
        "template-echo": {"yaml": ECHO},
    }
    server.register_shared(models)
    yield server
    server.stop()


ASK = [{"role": "user", "content": "Tell me a story"}]


# --- finding 1: finish_reason -------------------------------------------------------------


@pytest.mark.parametrize("model", GPT_MODELS)
def test_gpt_cut_at_max_tokens_is_length_plain_and_streamed(srv: Server, model: str) -> None:
    c = srv.sdk()
    # min_tokens holds back end-of-text, so max_tokens is what ends the answer.
    extra = {"min_tokens": 6}
    chat = c.chat.completions.create(
        model=model, messages=ASK, max_tokens=6, temperature=0, extra_body=extra
    )
    assert chat.usage is not None and chat.usage.completion_tokens <= 6
    assert chat.choices[0].finish_reason == "length"
    done = c.completions.create(
        model=model, prompt="Once", max_tokens=6, temperature=0, extra_body=extra
    )
    assert done.choices[0].finish_reason == "length"
    chunks = list(
        c.chat.completions.create(
            model=model, messages=ASK, max_tokens=6, temperature=0, stream=True, extra_body=extra
        )
    )
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "length"
    pieces = list(
        c.completions.create(
            model=model, prompt="Once", max_tokens=6, temperature=0, stream=True, extra_body=extra
        )
    )
    assert [p.choices[0].finish_reason for p in pieces if p.choices][-1] == "length"


@pytest.mark.parametrize("model", ["gpt-silent", "gpt-silent-engine"])
def test_tokens_that_decode_to_nothing_are_billed(srv: Server, model: str) -> None:
    """A model whose every token decodes to nothing (padding, as a char-level GPT trained
    briefly may answer) still made max_tokens tokens: usage bills them, plain and streamed,
    chat and completions, rather than re-counting the empty text as 0."""
    c = srv.sdk()
    chat = c.chat.completions.create(model=model, messages=ASK, max_tokens=10, temperature=0)
    assert (chat.choices[0].message.content, chat.choices[0].finish_reason) == ("", "length")
    assert chat.usage is not None and chat.usage.completion_tokens == 10
    done = c.completions.create(model=model, prompt="Once", max_tokens=10, temperature=0)
    assert (done.choices[0].text, done.choices[0].finish_reason) == ("", "length")
    assert done.usage is not None and done.usage.completion_tokens == 10
    usage = {"include_usage": True}
    chunks = list(
        c.chat.completions.create(
            model=model,
            messages=ASK,
            max_tokens=10,
            temperature=0,
            stream=True,
            stream_options=usage,
        )
    )
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == ""
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 10
    pieces = list(
        c.completions.create(
            model=model,
            prompt="Once",
            max_tokens=10,
            temperature=0,
            stream=True,
            stream_options=usage,
        )
    )
    assert pieces[-1].usage is not None and pieces[-1].usage.completion_tokens == 10


@pytest.mark.parametrize("model", GPT_MODELS)
def test_gpt_stop_sequence_is_stop(srv: Server, model: str) -> None:
    c = srv.sdk()
    extra = {"min_tokens": 24}
    full = c.completions.create(
        model=model, prompt="Once", max_tokens=24, temperature=0, extra_body=extra
    )
    text = full.choices[0].text
    assert len(text) >= 2, text
    stop = text[len(text) // 2]
    for stream in (False, True):
        answer = c.completions.create(
            model=model,
            prompt="Once",
            max_tokens=24,
            temperature=0,
            stop=[stop],
            extra_body=extra,
            stream=stream,
        )
        if stream:
            chunks = [p.choices[0] for p in answer if p.choices]  # type: ignore[union-attr]
            cut, finish = "".join(ch.text for ch in chunks), chunks[-1].finish_reason
        else:
            cut, finish = answer.choices[0].text, answer.choices[0].finish_reason  # type: ignore[union-attr]
        assert cut == text[: text.index(stop)]
        assert finish == "stop"


def test_ngram_cut_at_max_tokens_is_length_and_its_own_end_is_stop(srv: Server) -> None:
    c = srv.sdk()
    done = c.completions.create(model="ngram-tiny", prompt="The", max_tokens=5, seed=3)
    assert done.choices[0].finish_reason == "length"
    pieces = list(
        c.completions.create(model="ngram-tiny", prompt="The", max_tokens=5, seed=3, stream=True)
    )
    assert [p.choices[0].finish_reason for p in pieces if p.choices][-1] == "length"
    cut = c.chat.completions.create(model="ngram-tiny", messages=ASK, max_tokens=2, seed=1)
    assert cut.choices[0].finish_reason == "length"
    # Chat answers one line: the model ends it (</s>) long before 200 tokens.
    whole = c.chat.completions.create(model="ngram-tiny", messages=ASK, max_tokens=200, seed=1)
    assert whole.usage is not None and whole.usage.completion_tokens < 200
    assert whole.choices[0].finish_reason == "stop"
    chunks = list(
        c.chat.completions.create(
            model="ngram-tiny", messages=ASK, max_tokens=200, seed=1, stream=True
        )
    )
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"


class Story(BaseModel):
    title: str
    moral: str


def test_structured_output_cut_at_max_tokens_raises_length_error(srv: Server) -> None:
    c = srv.sdk()
    with pytest.raises(openai.LengthFinishReasonError):
        c.chat.completions.parse(
            model="gpt-tiny", messages=ASK, response_format=Story, max_tokens=4, temperature=0
        )


# --- finding 2: a list of prompts ---------------------------------------------------------

PROMPTS = ["The list", "A dict"]


def test_completions_answer_each_prompt_of_a_list(srv: Server) -> None:
    c = srv.sdk()
    done = c.completions.create(model="template-echo", prompt=PROMPTS, n=2, max_tokens=50)
    assert [ch.index for ch in done.choices] == [0, 1, 2, 3]
    assert [ch.text for ch in done.choices] == [
        "You said: The list",
        "You said: The list",
        "You said: A dict",
        "You said: A dict",
    ]
    assert all(ch.finish_reason == "stop" for ch in done.choices)
    alone = [
        c.completions.create(model="template-echo", prompt=p, n=2, max_tokens=50) for p in PROMPTS
    ]
    assert done.usage is not None
    assert done.usage.prompt_tokens == sum(a.usage.prompt_tokens for a in alone if a.usage)
    assert done.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone if a.usage)
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_langchain_openai_batch_gets_one_answer_per_prompt(srv: Server) -> None:
    """The issue's symptom: LangChain's completion LLM sends a batch as one list prompt and
    raised IndexError when the server answered one choice for their concatenation."""
    from langchain_openai import OpenAI

    llm = OpenAI(
        model="template-echo",
        base_url=f"{srv.base_url}/v1",
        api_key=srv.admin_key,  # type: ignore[arg-type]
        max_tokens=50,
        max_retries=0,
    )
    assert llm.batch(PROMPTS) == ["You said: The list", "You said: A dict"]


def test_completions_stream_each_prompt_of_a_list(srv: Server) -> None:
    c = srv.sdk()
    texts: dict[int, str] = defaultdict(str)
    finish: dict[int, str | None] = {}
    usage = None
    for chunk in c.completions.create(
        model="template-echo",
        prompt=PROMPTS,
        n=2,
        max_tokens=50,
        stream=True,
        stream_options={"include_usage": True},
    ):
        for choice in chunk.choices:
            texts[choice.index] += choice.text
            if choice.finish_reason is not None:
                finish[choice.index] = choice.finish_reason
        usage = chunk.usage or usage
    assert dict(texts) == {
        0: "You said: The list",
        1: "You said: The list",
        2: "You said: A dict",
        3: "You said: A dict",
    }
    assert finish == {0: "stop", 1: "stop", 2: "stop", 3: "stop"}
    assert usage is not None and usage.completion_tokens > 0


def test_list_prompts_cut_at_max_tokens_each_say_length(srv: Server) -> None:
    c = srv.sdk()
    done = c.completions.create(model="ngram-tiny", prompt=PROMPTS, max_tokens=3, seed=2)
    assert [ch.index for ch in done.choices] == [0, 1]
    assert [ch.finish_reason for ch in done.choices] == ["length", "length"]
    assert done.usage is not None and done.usage.completion_tokens <= 6


def test_a_list_of_prompts_keeps_its_caps(srv: Server) -> None:
    c = srv.sdk()
    with pytest.raises(openai.BadRequestError) as many:
        c.completions.create(model="template-echo", prompt=["x"] * 10_000, max_tokens=5)
    assert many.value.code == "array_above_max_length"
