"""Prompts and inputs given as token ids, through a live server and the official ``openai``
SDK: ``/v1/completions``' ``prompt`` and ``/v1/embeddings``' ``input`` as ``list[int]`` or
``list[list[int]]`` were a 400. They are ids of the chosen model's own tokenizer, as vLLM takes
them: usage counts the ids given; an id outside the vocabulary, an id written 1.0, or a model
without a tokenizer here, is a 400 naming the field. OpenAI's tiktoken ids, which LangChain's
OpenAIEmbeddings sends unless told ``check_embedding_ctx_length=False``, are refused by
/v1/embeddings (they are not ids its tokenizer makes), as are other servers' fields it would
not honour.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from transformers import AutoTokenizer

from aigc.knowledge.embed import default_model_dir
from tests.e2e.server import Server, make_org, new_admin_key
from tests.engine.tiny_lm import byte_tokenizer, save_tiny_gpt2
from tests.templates import ECHO

VOCAB = 257  # the tiny GPT's tokenizer: 256 bytes and end-of-text
MODELS = ["gpt-tiny", "gpt-tiny-engine"]  # the neural decoder and the batching engine


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("token-models")
    save_tiny_gpt2(root / "tiny", vocab_size=VOCAB)
    data = tmp_path_factory.mktemp("token-server") / "data"
    server = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    tiny = str(root / "tiny")
    server.register_shared(
        {
            "gpt-tiny": {"path": tiny},
            "gpt-tiny-engine": {"path": tiny, "engine": {"max_running": 4, "max_queue": 8}},
            "template-echo": {"yaml": ECHO},
        }
    )
    yield server
    server.stop()


def _ids(text: str) -> list[int]:
    return list(byte_tokenizer().encode(text))  # the tiny GPT's own tokenizer


@pytest.mark.parametrize("model", MODELS)
def test_a_prompt_of_token_ids_reads_as_its_text(srv: Server, model: str) -> None:
    c = srv.sdk()
    ids = _ids("Once upon 一个 time")
    asked = {"model": model, "max_tokens": 6, "temperature": 0}
    as_ids = c.completions.create(prompt=ids, **asked)  # type: ignore[call-overload]
    as_text = c.completions.create(prompt="Once upon 一个 time", **asked)  # type: ignore[call-overload]
    assert as_ids.choices[0].text == as_text.choices[0].text  # greedy: the same prompt read
    assert as_ids.usage is not None and as_ids.usage.prompt_tokens == len(ids)
    chunks = list(c.completions.create(prompt=ids, stream=True, **asked))  # type: ignore[call-overload]
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == as_ids.choices[0].text


def test_several_prompts_of_token_ids(srv: Server) -> None:
    prompts = [_ids("Hello"), _ids("A much longer prompt")]
    done = srv.sdk().completions.create(
        model="gpt-tiny", prompt=prompts, n=2, max_tokens=3, temperature=0
    )
    assert [ch.index for ch in done.choices] == [0, 1, 2, 3]
    assert done.usage is not None and done.usage.prompt_tokens == sum(len(p) for p in prompts)


def test_an_id_outside_the_vocabulary_is_a_400_naming_the_prompt(srv: Server) -> None:
    c = srv.sdk()
    with pytest.raises(openai.BadRequestError) as one:
        c.completions.create(model="gpt-tiny", prompt=[72, VOCAB], max_tokens=3)
    assert one.value.param == "prompt" and str(VOCAB) in one.value.message
    with pytest.raises(openai.BadRequestError) as second:
        c.completions.create(model="gpt-tiny", prompt=[[72], [72, 10**6]], max_tokens=3)
    assert second.value.param == "prompt[1]"


def test_a_model_without_a_tokenizer_here_is_a_400_naming_the_prompt(srv: Server) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        srv.sdk().completions.create(model="template-echo", prompt=[72, 105], max_tokens=3)
    assert refused.value.param == "prompt" and "token ids" in refused.value.message


def _minilm_ids(text: str) -> list[int]:
    tokenizer = AutoTokenizer.from_pretrained(str(default_model_dir()))
    return list(tokenizer.encode(text, add_special_tokens=False))


def test_embeddings_of_token_ids_are_those_of_their_text(srv: Server) -> None:
    c = srv.sdk()
    texts = ["hello world", "token arrays from langchain"]
    ids = [_minilm_ids(t) for t in texts]
    by_ids = c.embeddings.create(model="default", input=ids)
    by_text = c.embeddings.create(model="default", input=texts)
    for got, want in zip(by_ids.data, by_text.data, strict=True):
        assert float(np.dot(got.embedding, want.embedding)) > 0.999
    assert by_ids.usage.prompt_tokens == sum(len(one) for one in ids)
    single = c.embeddings.create(model="default", input=ids[0])
    assert single.usage.prompt_tokens == len(ids[0]) and len(single.data) == 1


def test_an_embedding_id_outside_the_vocabulary_is_a_400_naming_the_input(srv: Server) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        srv.sdk().embeddings.create(model="default", input=[[101, 10**6]])
    assert refused.value.param == "input" and "outside" in refused.value.message


def _cl100k_cache() -> str:
    """OpenAI's tiktoken file, as the dev dependency llama-index ships it (no network here)."""
    import llama_index.core

    return str(Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache")


ENGLISH = "Hello, world! How are you doing today?"  # its cl100k ids are all MiniLM ids too
CHINESE = "机器学习是人工智能的一个分支。"  # its cl100k ids are past MiniLM's vocabulary


def test_langchain_openai_embeddings_gets_an_error_not_wrong_vectors(
    srv: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangChain's OpenAIEmbeddings sends OpenAI's tiktoken ids by default; MiniLM read them
    as other words (cosine 0.11 to the text's own vector) or as ids past its vocabulary. Now a
    400 that says so and what to set; with it set, the vectors are the SDK's for the text."""
    from langchain_openai import OpenAIEmbeddings

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", _cl100k_cache())
    asked = {"base_url": f"{srv.base_url}/v1", "api_key": srv.admin_key, "max_retries": 0}
    default = OpenAIEmbeddings(model="all-MiniLM-L6-v2", **asked)  # type: ignore[arg-type]
    for texts in ([ENGLISH], [CHINESE], [ENGLISH, CHINESE]):
        with pytest.raises(openai.BadRequestError) as refused:
            default.embed_documents(texts)
        assert refused.value.code == "foreign_token_ids"
        assert refused.value.param is not None and refused.value.param.startswith("input")
        assert "check_embedding_ctx_length=False" in refused.value.message
        assert "tokenizer" in refused.value.message
    with pytest.raises(openai.BadRequestError):
        default.embed_query(ENGLISH)

    text_sent = OpenAIEmbeddings(
        model="all-MiniLM-L6-v2",
        check_embedding_ctx_length=False,
        **asked,  # type: ignore[arg-type]
    )
    got = [*text_sent.embed_documents([ENGLISH, CHINESE]), text_sent.embed_query(ENGLISH)]
    sdk = srv.sdk().embeddings.create(model="all-MiniLM-L6-v2", input=[ENGLISH, CHINESE])
    want = [*(d.embedding for d in sdk.data), sdk.data[0].embedding]
    for mine, theirs in zip(got, want, strict=True):
        assert np.allclose(mine, theirs, atol=1e-6)


def test_the_models_own_ids_cut_into_windows_still_embed(srv: Server) -> None:
    ids = _minilm_ids("tokenization of embeddings for retrieval")  # token ##ization em ##bed …
    windows = [ids[:3], ids[3:]]  # the second starts inside "embeddings"
    done = srv.sdk().embeddings.create(model="default", input=windows)
    assert len(done.data) == 2 and done.usage.prompt_tokens == len(ids)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("truncate_prompt_tokens", 8),  # vLLM: keep the last 8 tokens
        ("truncate_prompt_tokens", -1),  # vLLM: keep the last tokens the model takes
        ("normalize", False),  # vLLM
        ("embed_dtype", "float16"),  # vLLM
        ("add_special_tokens", False),  # vLLM
        ("truncate", "NONE"),  # Cohere: an error for a long input
        ("truncate", False),  # TEI: the same
        ("input_type", "search_query"),  # Cohere
    ],
)
def test_other_servers_embedding_fields_are_refused_by_name(
    srv: Server, field: str, value: object
) -> None:
    """They were dropped: the vectors were not what the caller asked for, and nothing said so."""
    with pytest.raises(openai.BadRequestError) as refused:
        srv.sdk().embeddings.create(model="default", input="hi", extra_body={field: value})
    assert refused.value.param == field and refused.value.code == "unsupported_parameter"


def test_other_servers_fields_asking_for_what_is_done_anyway_are_taken(srv: Server) -> None:
    c = srv.sdk()
    plain = c.embeddings.create(model="default", input="hi").data[0].embedding
    same = {"truncate": True, "normalize": True, "add_special_tokens": True, "priority": 0}
    asked = c.embeddings.create(model="default", input="hi", extra_body=same).data[0].embedding
    assert np.allclose(plain, asked)
    unknown = c.embeddings.create(model="default", input="hi", extra_body={"tag": "x"})
    assert np.allclose(plain, unknown.data[0].embedding)  # no server's field: unread, as on chat


def test_an_embedding_over_the_keys_tokens_per_minute_says_what_counts(srv: Server) -> None:
    """The 429 said "Lower max_tokens": an embedding has none."""
    org = make_org(srv, "embedding-limits")
    made = srv.api("POST", "/api/keys", key=org.admin_key, json={"tpm_limit": 5})
    assert made.status_code == 201, made.text
    limited = openai.OpenAI(
        base_url=f"{srv.base_url}/v1", api_key=made.json()["key"], max_retries=0
    )
    with pytest.raises(openai.RateLimitError) as refused:
        limited.embeddings.create(model="default", input=["a longer text than five tokens"] * 2)
    message = refused.value.message
    assert "max_tokens" not in message and "every input" in message
    assert "limit is 5" in message
