"""Token ids of another tokenizer, told from the embedding model's own (gateway/token_prompts.py's
``made_by_tokenizer``): LangChain's OpenAIEmbeddings sends OpenAI's tiktoken cl100k ids, which
all-MiniLM-L6-v2 read as other words (wrong vectors, silently) or as ids past its vocabulary.

Its own ids of real texts must all pass (whole, with [CLS]/[SEP], truncated as a tokenizer
truncates, cut into windows mid-word); cl100k ids of the same texts must be refused, but for a
short text whose ids happen to be whole words here.
"""

from __future__ import annotations

import os
import pydoc_data.topics
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken

from aigc.gateway.token_prompts import made_by_tokenizer
from aigc.knowledge.embed import Embedder

TOPICS = sorted(pydoc_data.topics.topics.items())[::12]  # 7 of Python's help pages, whole
TEXTS = [
    *(text for _, text in TOPICS),
    *(p for _, text in TOPICS for p in text.split("\n\n") if p.strip()),
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter; don't you think so?",
    "e-mail: john.doe@example.com, URL: https://example.org/path?x=1&y=2#frag",
    "你好，世界！机器学习是人工智能的一个分支。",
    "《红楼梦》是中国古典四大名著之一，請問這個產品的價格是多少？",
    "Python 是一种 programming language，由 Guido van Rossum 创建。",
    "«Bonjour» — dit‑il… „Hallo“ ‘quote’ ¿Qué? ¡Sí! a+b=c; [1,2]{a:b}",
    "Café naïve résumé façade Ångström Zürich Dvořák Łódź ＦＵＬＬＷＩＤＴＨ",
    "I ❤️ NY 🗽 emoji👍in👍words 👨‍👩‍👧‍👦 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ᚠᛇᚻ " + "a" * 150,  # [UNK]s
    "def f(x: int) -> list[int]:\n    return [i ** 2 for i in range(x) if i % 3]\n",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(backend="torch")


@pytest.fixture(scope="module")
def cl100k() -> Iterator[tiktoken.Encoding]:
    """OpenAI's tokenizer, from the file the dev dependency llama-index ships (no network)."""
    import llama_index.core

    cache = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    before = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        yield tiktoken.get_encoding("cl100k_base")
    finally:
        if before is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = before


def own(embedder: Embedder, ids: list[int]) -> bool:
    if any(not 0 <= i < embedder.vocab_size() for i in ids):
        return False  # the route's first refusal: an id past the vocabulary
    return made_by_tokenizer(
        ids, embedder.decode, embedder.token_ids, embedder.special_ids(), embedder.continues_word
    )


def test_the_models_own_ids_of_real_texts_all_pass(embedder: Embedder) -> None:
    tokenizer = embedder.model().tokenizer
    checked = 0
    for text in TEXTS:
        ids = embedder.token_ids(text)
        variants = [ids, tokenizer.encode(text)]  # with [CLS] ... [SEP]
        variants += [tokenizer.encode(text, truncation=True, max_length=n) for n in (16, 128)]
        variants += [ids[i : i + 50] for i in range(0, len(ids), 50)]  # windows, cut mid-word
        for one in variants:
            assert own(embedder, one), (text[:60], tokenizer.convert_ids_to_tokens(one)[:12])
            checked += 1
    assert checked > 500


def test_cl100k_ids_of_the_same_texts_are_refused(
    embedder: Embedder, cl100k: tiktoken.Encoding
) -> None:
    texts = [t for t in TEXTS if len(t) > 40]  # a short one may spell whole words here
    refused = [not own(embedder, cl100k.encode(t)) for t in texts]
    assert len(refused) > 50 and all(refused)
    # Within the vocabulary too: not only refused as ids past it.
    english = cl100k.encode("Hello, world! How are you doing today?")
    assert max(english) < embedder.vocab_size() and not own(embedder, english)


def test_what_passes_and_what_does_not(embedder: Embedder) -> None:
    ids = embedder.token_ids("tokenization embeddings")  # token ##ization em ##bed ##ding ##s
    pieces = embedder.model().tokenizer.convert_ids_to_tokens(ids)
    assert any(p.startswith("##") for p in pieces)
    assert own(embedder, ids[1:])  # a window that starts inside a word
    assert not own(embedder, list(reversed(ids)))  # a piece ahead of its word's start
    unused = embedder.model().tokenizer.convert_tokens_to_ids("[unused0]")
    assert not own(embedder, [unused]) and not own(embedder, [1, 2])  # what [1.0, 2.0] read as
