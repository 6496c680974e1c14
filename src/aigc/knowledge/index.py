"""One knowledge base's search index: BM25 over words and FAISS over vectors, on disk.

An index holds the KB's chunks as rows 0..n-1 (``ids[row]`` is the chunk id), their BM25
term weights (a sparse matrix, so a query is the sum of a few rows) and, when the KB is dense,
their normalised vectors in FAISS: exact inner product for small collections, HNSW above
``HNSW_FROM`` rows, where exact search grows too slow.

Rebuilding is cheap except for embedding, so every change (add, replace or delete a
document) builds a new index from the previous one: rows of kept chunks are reused (their
tokens and vectors are stored with the index), only new chunks are tokenised and embedded.
The new index is written to a fresh folder and switched in with one atomic rename of a
pointer file, so a reader always sees a whole index, old or new, never a half-written one.

Filters (the documents a caller may read and chose) are applied inside the search, through
a row mask for BM25 and an ``IDSelector`` for FAISS: a filtered-out chunk is never a candidate,
so it cannot be returned, ranked or counted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from aigc.infra.canonical_text import canonical

log = logging.getLogger("aigc.knowledge")

# How an index's texts were cut into tokens; an index saved by an older ``tokenize`` is
# re-tokenized from its chunks (``ingest.sync_index``). 2: text read through
# ``infra.canonical_text.canonical`` (simplified characters, full-width forms as ASCII). 3:
# Chinese words whole across a line break (``_cjk_runs``).
TOKENS = 3

HNSW_FROM = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
K1, B = 1.2, 0.75

_LATIN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_SPACE_IN_CJK = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")


def _cjk_runs(text: str) -> list[str]:
    """The runs of Chinese characters in ``text``, read across whitespace: a PDF breaks its
    lines anywhere, inside words too ("个人信\\n息"), and jieba would cut the pieces apart
    (个人, 信, 息: no 信息, no 个人信息). Chinese puts no spaces between words, so a space or
    line break between two characters is layout, not a word's end."""
    return _CJK_RUN.findall(_SPACE_IN_CJK.sub("", text))


# --- tokens --------------------------------------------------------------------------------


def _faiss() -> Any:
    """faiss, imported on first use. Typed as Any: its bundled stubs lack much of the SWIG API
    used here (``SearchParametersHNSW``, the ``sel`` argument, ``IndexHNSWFlat.hnsw``)."""
    import faiss

    return faiss


@lru_cache(maxsize=1)
def _stemmer() -> Any:  # PyStemmer is untyped
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _jieba() -> Any:  # the jieba module, initialised
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@lru_cache(maxsize=1)
def _chinese_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE

    return frozenset(STOPWORDS_CHINESE)


def chinese_words(text: str) -> list[str]:
    """The Chinese content words of ``text``, in order: jieba's precise cut of its Chinese
    runs, read through ``infra.canonical_text.canonical`` (simplified characters), bm25s' Chinese
    stop words out (吗, 多少, 需要…). What relevance weighs of a question and what
    ``meanings`` reads; BM25 indexes ``tokenize``'s finer search-mode cut instead."""
    stop = _chinese_stopwords()
    runs = _cjk_runs(canonical(text))
    return [w for run in runs for w in _jieba().cut(run) if w not in stop]


def tokenize(text: str, characters: bool = True) -> list[str]:
    """Words for BM25, of the text read through ``infra.canonical_text.canonical`` (帶薪 finds 带薪,
    ＶＰＮ finds VPN): English lower-cased, stop words dropped, stemmed; Chinese cut by jieba
    (search mode: a long word also yields its parts) plus single characters, which keeps
    classical or unusual text findable when the dictionary splits it differently.

    ``characters=False`` leaves the single characters out: for a document's context (title,
    period), where a character such as 法 or 司 would match nearly any Chinese question."""
    text = canonical(text).lower().replace("’", "'")  # a curly apostrophe: "MGM’s" is "MGM's"
    words = [w for w in _LATIN.findall(text) if w not in _stopwords()]
    tokens = _stemmer().stemWords(words) if words else []
    for run in _cjk_runs(text):
        tokens.extend(w for w in _jieba().cut_for_search(run) if len(w) > 1)
        if characters:
            tokens.extend(run)
    return tokens


# --- BM25 ----------------------------------------------------------------------------------


@dataclass
class Bm25:
    """Okapi BM25 with weights precomputed per (term, row): a query sums a few sparse rows."""

    vocab: dict[str, int]
    weights: sparse.csr_matrix  # terms × rows

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]]) -> Bm25:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[int] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for j, doc in enumerate(docs):
            lengths[j] = len(doc)
            counts: dict[int, int] = {}
            for term in doc:
                t = vocab.setdefault(term, len(vocab))
                counts[t] = counts.get(t, 0) + 1
            rows.extend(counts)
            cols.extend([j] * len(counts))
            tfs.extend(counts.values())
        n = len(docs)
        tf = np.asarray(tfs, dtype=np.float32)
        col = np.asarray(cols, dtype=np.int64)
        row = np.asarray(rows, dtype=np.int64)
        df = np.bincount(row, minlength=len(vocab)).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        avg = float(lengths.mean()) if n else 1.0
        norm = K1 * (1 - B + B * lengths[col] / max(avg, 1e-9))
        w = idf[row] * tf * (K1 + 1) / (tf + norm)
        weights = sparse.csr_matrix((w, (row, col)), shape=(len(vocab), n), dtype=np.float32)
        return cls(vocab, weights)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (a repeated query word counts once)."""
        terms = {self.vocab[t] for t in tokenize(query) if t in self.vocab}
        if not terms:
            return np.zeros(self.weights.shape[1], dtype=np.float32)
        return np.asarray(self.weights[sorted(terms)].sum(axis=0)).ravel()


# --- the index -----------------------------------------------------------------------------


@dataclass
class Hits:
    rows: np.ndarray  # int64 row numbers, best first
    scores: np.ndarray  # float32


class KbIndex:
    """A loaded index; built by ``build`` and read by ``load``, never changed in place."""

    def __init__(
        self,
        ids: np.ndarray,
        docs: Sequence[str],
        tokens: list[list[str]],
        vectors: np.ndarray | None,
        bm25: Bm25 | None = None,
        faiss_index: Any = None,
        embedder: str | None = None,
        contexts: dict[str, list[str]] | None = None,
        tokens_version: int = TOKENS,
    ) -> None:
        self.ids = ids.astype(np.int64)
        self.tokens_version = tokens_version  # the ``TOKENS`` that cut ``tokens``
        # What made the vectors (``Embedder.signature``): a query is embedded the same way,
        # and vectors of another signature are never added to this index. None: an index
        # from before it was recorded, whose vectors are the configured model's in float.
        self.embedder = embedder
        self.docs = list(docs)  # the document id of each row, for filters
        self.doc_names = sorted(set(self.docs))
        code = {d: i for i, d in enumerate(self.doc_names)}
        self.doc_codes = np.asarray([code[d] for d in self.docs], dtype=np.int32)
        # Each document's context (title, file name, period) as tokens, and BM25 over those
        # few "documents": a name or a period that every chunk of one document carries is
        # rare among documents, though common among that document's chunks.
        contexts = contexts or {}
        self.contexts = {d: contexts[d] for d in self.doc_names if d in contexts}
        self.context_bm25 = Bm25.build([self.contexts.get(d, []) for d in self.doc_names])
        self.tokens = tokens
        self.vectors = vectors
        self.bm25 = bm25 or Bm25.build(tokens)
        self.faiss = faiss_index
        if self.faiss is None and vectors is not None and len(ids):
            self.faiss = build_faiss(vectors)
        self.row_of = {int(cid): r for r, cid in enumerate(self.ids)}

    def mask_for(self, documents: set[str] | None) -> np.ndarray | None:
        """Rows whose document is in ``documents`` (None: every row, no mask needed)."""
        if documents is None or all(d in documents for d in self.doc_names):
            return None
        allowed = np.asarray([d in documents for d in self.doc_names], dtype=bool)
        return allowed[self.doc_codes] if len(allowed) else np.zeros(len(self), dtype=bool)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dense(self) -> bool:
        return self.vectors is not None

    # --- search ---

    def keyword_scores(self, query: str, context_weight: float = 0.0) -> np.ndarray:
        """BM25 of every row, plus ``context_weight`` times its document context's BM25."""
        scores = self.bm25.scores(query)
        if context_weight and self.contexts:
            scores = scores + context_weight * self.context_scores(query)
        return scores

    def keyword(
        self, query: str, k: int, mask: np.ndarray | None = None, context_weight: float = 0.0
    ) -> Hits:
        scores = self.keyword_scores(query, context_weight)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        return _top(scores, k, positive_only=True)

    def context_scores(self, query: str) -> np.ndarray:
        """Per row, the BM25 score of the query against its document's context."""
        if not self.contexts or not len(self):
            return np.zeros(len(self), dtype=np.float32)
        return self.context_bm25.scores(query)[self.doc_codes].astype(np.float32)

    def vector(self, query_vector: np.ndarray, k: int, mask: np.ndarray | None = None) -> Hits:
        faiss = _faiss()

        if self.faiss is None or not len(self):
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        q = query_vector.reshape(1, -1).astype(np.float32)
        params = None
        if mask is not None:
            allowed = np.flatnonzero(mask).astype(np.int64)
            if not len(allowed):
                return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
            selector = faiss.IDSelectorBatch(allowed)
            params = (
                faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, k))
                if isinstance(self.faiss, faiss.IndexHNSWFlat)
                else faiss.SearchParameters(sel=selector)
            )
        elif isinstance(self.faiss, faiss.IndexHNSWFlat):
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
        scores, rows = self.faiss.search(q, min(k, len(self)), params=params)
        keep = rows[0] >= 0
        return Hits(rows[0][keep].astype(np.int64), scores[0][keep])

    def dense_scores(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact cosine of chosen rows (for fusing candidates found by the other method)."""
        if self.vectors is None or not len(rows):
            return np.zeros(len(rows), dtype=np.float32)
        return self.vectors[rows] @ query_vector.astype(np.float32)

    # --- change and persistence ---

    def updated(
        self,
        keep_ids: set[int],
        new_ids: Sequence[int],
        new_texts: Sequence[str],
        new_vectors: np.ndarray | None,
        doc_of: dict[int, str],
        contexts: dict[str, str] | None = None,
        embedder: str | None = None,
    ) -> KbIndex:
        """A new index: this one's rows whose ids are kept, plus the new chunks (whose vectors
        ``embedder`` made, the same as this index's); ``contexts`` (document id → its context
        header) replaces the documents' contexts when given."""
        rows = [r for r, cid in enumerate(self.ids) if int(cid) in keep_ids]
        ids = np.concatenate([self.ids[rows], np.asarray(new_ids, dtype=np.int64)])
        docs = [doc_of[int(c)] for c in ids]
        tokens = [self.tokens[r] for r in rows] + [tokenize(t) for t in new_texts]
        vectors = None
        if new_vectors is not None:
            old = self.vectors[rows] if self.vectors is not None else None
            vectors = new_vectors if old is None or not len(old) else np.vstack([old, new_vectors])
        known = (
            self.contexts
            if contexts is None
            else {d: tokenize(text, characters=False) for d, text in contexts.items() if text}
        )
        return KbIndex(
            ids, docs, tokens, vectors, contexts=known, embedder=embedder or self.embedder
        )

    def retokenized(self, texts: dict[int, str], contexts: dict[str, str]) -> KbIndex:
        """This index with the rows of ``texts`` (chunk id → indexed text) and the document
        contexts cut by today's ``tokenize``; vectors kept as they are."""
        tokens = [
            tokenize(texts[int(cid)]) if int(cid) in texts else old
            for cid, old in zip(self.ids, self.tokens, strict=True)
        ]
        return KbIndex(
            self.ids,
            self.docs,
            tokens,
            self.vectors,
            faiss_index=self.faiss,
            embedder=self.embedder,
            contexts={d: tokenize(t, characters=False) for d, t in contexts.items() if t},
        )

    def save(self, folder: Path) -> None:
        """Write into a fresh version folder, then switch the ``CURRENT`` pointer atomically."""
        faiss = _faiss()

        folder.mkdir(parents=True, exist_ok=True)
        version = f"v-{secrets.token_hex(6)}"
        tmp = folder / f".{version}.tmp"
        tmp.mkdir()
        np.save(tmp / "ids.npy", self.ids)
        (tmp / "docs.json").write_text(json.dumps(self.docs))
        meta = {"embedder": self.embedder, "tokens": self.tokens_version}
        (tmp / "meta.json").write_text(json.dumps(meta))
        (tmp / "contexts.json").write_text(json.dumps(self.contexts, ensure_ascii=False))
        with open(tmp / "tokens.jsonl", "w", encoding="utf-8") as fh:
            for toks in self.tokens:
                fh.write(json.dumps(toks, ensure_ascii=False) + "\n")
        if self.vectors is not None:
            np.save(tmp / "vectors.npy", self.vectors.astype(np.float32))
            if self.faiss is not None:
                faiss.write_index(self.faiss, str(tmp / "faiss.index"))
        tmp.rename(folder / version)
        pointer = folder / f".CURRENT.{version}.tmp"
        pointer.write_text(version)
        old = read_pointer(folder)
        os.replace(pointer, folder / "CURRENT")
        if old and old != version:  # readers opened files already; on POSIX they keep them
            shutil.rmtree(folder / old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> KbIndex | None:
        faiss = _faiss()

        version = read_pointer(folder)
        if version is None:
            return None
        path = folder / version
        ids = np.load(path / "ids.npy")
        docs = json.loads((path / "docs.json").read_text())
        meta = json.loads((path / "meta.json").read_text()) if (path / "meta.json").exists() else {}
        contexts_file = path / "contexts.json"  # absent in an index built before it existed
        contexts = json.loads(contexts_file.read_text()) if contexts_file.exists() else {}
        with open(path / "tokens.jsonl", encoding="utf-8") as fh:
            tokens = [json.loads(line) for line in fh]
        vectors = None
        faiss_index = None
        if (path / "vectors.npy").exists():
            vectors = np.load(path / "vectors.npy")
            if (path / "faiss.index").exists():
                faiss_index = faiss.read_index(str(path / "faiss.index"))
        return cls(
            ids,
            docs,
            tokens,
            vectors,
            faiss_index=faiss_index,
            contexts=contexts,
            embedder=meta.get("embedder"),
            tokens_version=meta.get("tokens", 1),  # unrecorded: before ``canonical``
        )

    @classmethod
    def empty(cls, dense: bool, dim: int = 384, embedder: str | None = None) -> KbIndex:
        vectors = np.zeros((0, dim), dtype=np.float32) if dense else None
        return cls(np.zeros(0, dtype=np.int64), [], [], vectors, embedder=embedder)


def read_pointer(folder: Path) -> str | None:
    try:
        return (folder / "CURRENT").read_text().strip() or None
    except FileNotFoundError:
        return None


def build_faiss(vectors: np.ndarray) -> Any:  # a faiss index (faiss is untyped)
    """Exact inner product while small; HNSW (recall@10 ≈ 0.99 at efSearch 96) when large."""
    faiss = _faiss()

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(vectors) < HNSW_FROM:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(vectors)
    return index


def _top(scores: np.ndarray, k: int, positive_only: bool = False) -> Hits:
    candidates = np.flatnonzero(scores > 0) if positive_only else np.arange(len(scores))
    if len(candidates) > k:
        part = np.argpartition(-scores[candidates], k - 1)[:k]
        candidates = candidates[part]
    order = np.argsort(-scores[candidates], kind="stable")
    rows = candidates[order].astype(np.int64)
    return Hits(rows, scores[rows].astype(np.float32))
