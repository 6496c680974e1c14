"""Hybrid search over the knowledge bases a caller may read.

    readable KBs (tenant + grants, from the database) → documents allowed (ready, filters)
      → per KB index: BM25 top-N and FAISS top-N, restricted to those documents *inside* the
        search (row mask / IDSelector) → exact scores of every candidate under both methods
      → fusion → optional cross-encoder rerank → chunk rows fetched with the same tenant and
        KB filter → hits with scores and citation fields.

Fusion: plain reciprocal-rank fusion loses to dense retrieval alone on MS MARCO (0.791 vs
0.798), because it throws the scores away. We instead score every candidate under *both*
methods exactly (the vector of a BM25 candidate and the BM25 weight of a dense candidate are
both at hand), min-max normalise each score over the candidates, and take a weighted sum.
The weight is tuned on half of the benchmark queries (bench/retrieval.py) and differs by
script, because the default embedding model (MiniLM) was trained on English only: Chinese
queries lean on BM25.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import refused_value
from aigc.infra.db import Database
from aigc.infra.hf_import import load_transformers
from aigc.knowledge import db_index, identifiers, indexed, meanings, pgvectors
from aigc.knowledge.bases import readable_kbs
from aigc.knowledge.context import indexed_text, with_period_terms
from aigc.knowledge.index import TOKENS, KbIndex, read_pointer
from aigc.knowledge.ingest import embedder_for, index_dir, recorded_version, sync_index
from aigc.knowledge.relevance import TermWeights
from aigc.knowledge.tables import KbChunk, KbDocument, KnowledgeBase

MODES = ("hybrid", "dense", "keyword")
# Dense weight in the fused score for the default model (MiniLM), tuned on the tuning half of
# bench/retrieval.py's queries: 0.8 on MS MARCO; 0.0 on Chinese, where MiniLM (English-only)
# scores nDCG@10 0.20 against BM25's 0.93. Another configured model gets an even split for
# Chinese until it is tuned.
DENSE_WEIGHT = {"latin": 0.8, "cjk": 0.0}
OTHER_MODEL_CJK_WEIGHT = 0.5
# With the default model a Chinese question's keyword candidates are ranked by BM25 and their
# words' meanings (knowledge/meanings.py: CC-CEDICT senses through MiniLM) together; the
# meaning similarity's weight, tuned on one half of zh_docs' questions (bench/retrieval.py).
MEANING_WEIGHT = 0.7
TRUST_FROM = 10  # the best keyword candidates whose language says whether meanings count
# Weight of a chunk's document context (title, file name, period; BM25 over the KB's
# documents) added to the chunk's own BM25: a query naming a company or a quarter favours
# that document's chunks. Tuned on one half of financebench's questions (bench/retrieval.py).
CONTEXT_WEIGHT = 4.0
CANDIDATES = 100  # per method and KB, before fusion
MAX_TOP_K = 100
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass
class Filters:
    """Metadata filters, applied inside the index search."""

    document_ids: list[str] | None = None
    filenames: list[str] | None = None
    content_types: list[str] | None = None

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> Filters:
        value = value or {}
        unknown = set(value) - {"document_ids", "filenames", "content_types"}
        if unknown:
            raise refused_value(
                "filter_unknown",
                "Unknown filter(s) {unknown}; filters are {expected}",
                param="filters",
                unknown=str(sorted(unknown)),
                expected="document_ids, filenames, content_types",
            )
        for key, items in value.items():
            if items is not None and (
                not isinstance(items, list) or not all(isinstance(i, str) for i in items)
            ):
                raise refused_value(
                    "filter_not_strings",
                    "filters.{name} must be a list of strings",
                    param="filters",
                    name=key,
                )
        return cls(**value)


@dataclass
class Hit:
    chunk_id: int
    kb_id: str
    document_id: str
    filename: str
    page: int | None
    headings: list[str]
    text: str
    score: float
    dense_score: float | None
    keyword_score: float
    meta: dict[str, Any] = field(default_factory=dict)
    # A Chinese question's similarity in word meanings (knowledge/meanings.py), when the
    # search ranked by it: the default model's vectors do not read Chinese.
    meaning_score: float | None = None
    title: str | None = None  # what the document calls itself (knowledge/context.py)
    period: str | None = None  # the period it covers, as it states it
    context: str | None = None  # the header indexed with the chunk's text

    def view(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "knowledge_base": self.kb_id,
            "document": self.document_id,
            "filename": self.filename,
            "title": self.title,
            "period": self.period,
            "page": self.page,
            "headings": self.headings,
            "ocr": self.meta.get("ocr") == "true",
            "text": self.text,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "keyword_score": round(self.keyword_score, 6),
            "meaning_score": None if self.meaning_score is None else round(self.meaning_score, 6),
            "meta": self.meta,
        }


# --- loaded indexes, reloaded when a rebuild switched the pointer --------------------------

_loaded: dict[str, tuple[str, KbIndex]] = {}
_loaded_lock = threading.Lock()


def load_index(folder: Path) -> KbIndex | None:
    version = read_pointer(folder)
    if version is None:
        return None
    key = str(folder)
    cached = _loaded.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    with _loaded_lock:
        index = KbIndex.load(folder)
        if index is not None:
            _loaded[key] = (version, index)
        return index


def kb_index(
    session: Session, settings: Settings, tenant_id: str, kb_id: str, dense: bool
) -> KbIndex | None:
    """The index one search uses: on PostgreSQL with pgvector, the database's (vectors
    searched in SQL, keyword index cached by version); else the index files of this data
    directory."""
    bind = session.get_bind()
    embedder = embedder_for(settings) if dense and pgvectors.column_dim(bind) else None
    if pgvectors.usable(bind, embedder.dim if embedder else None):
        signature = embedder.signature if embedder is not None else None
        return db_index.db_index(session, tenant_id, kb_id, dense, signature)
    folder = index_dir(settings.data_dir, tenant_id, kb_id)
    if bind.dialect.name == "postgresql":  # files per instance: behind the database?
        version = session.scalar(
            select(KnowledgeBase.index_version).where(
                KnowledgeBase.id == kb_id, KnowledgeBase.tenant_id == tenant_id
            )
        )
        if version is not None and recorded_version(folder) != version:
            engine = bind if isinstance(bind, Engine) else bind.engine
            sync_index(Database.of(engine), settings, tenant_id, kb_id, local=True)
    index = load_index(folder)
    if index is not None and index.tokens_version != TOKENS:  # saved before an upgrade
        engine = bind if isinstance(bind, Engine) else bind.engine
        sync_index(Database.of(engine), settings, tenant_id, kb_id, local=True)
        index = load_index(folder)
    return index


# --- fusion --------------------------------------------------------------------------------


def script_of(query: str) -> str:
    cjk = len(_CJK.findall(query))
    return "cjk" if cjk and cjk >= len(query.strip()) * 0.3 else "latin"


def _minmax(values: np.ndarray) -> np.ndarray:
    if not len(values):
        return values
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        return np.where(values > 0, 1.0, 0.0).astype(np.float32)
    return ((values - lo) / (hi - lo)).astype(np.float32)


def fuse(dense: np.ndarray | None, keyword: np.ndarray, weight: float) -> np.ndarray:
    """Weighted sum of min-max normalised scores (both known exactly for every candidate)."""
    kw = keyword / keyword.max() if len(keyword) and keyword.max() > 0 else keyword * 0
    if dense is None:
        return kw.astype(np.float32)
    return (weight * _minmax(dense) + (1 - weight) * kw).astype(np.float32)


@dataclass
class Candidates:
    """Every candidate of one query across KBs: (kb, row) with both exact scores."""

    kb_ids: list[str] = field(default_factory=list)
    chunk_ids: list[int] = field(default_factory=list)
    dense: list[float] = field(default_factory=list)
    keyword: list[float] = field(default_factory=list)


def candidates_from(
    kb_id: str,
    index: KbIndex,
    query: str,
    query_vector: np.ndarray | None,
    documents: set[str] | None,
    mode: str,
    n: int,
    into: Candidates,
    context_weight: float = CONTEXT_WEIGHT,
) -> None:
    mask = index.mask_for(documents)
    if mask is not None and not mask.any():
        return
    query = with_period_terms(query)  # "Q2 2023" also matches "quarter ended June 30, 2023"
    bm25 = index.keyword_scores(query, context_weight)
    if mask is not None:
        bm25 = np.where(mask, bm25, 0.0)
    rows: set[int] = set()
    if mode in ("hybrid", "keyword"):
        rows.update(index.keyword(query, n, mask, context_weight).rows.tolist())
    dense_query = query_vector if mode in ("hybrid", "dense") and index.dense else None
    if dense_query is not None:
        rows.update(index.vector(dense_query, n, mask).rows.tolist())
    ordered = np.asarray(sorted(rows), dtype=np.int64)
    if mask is not None and len(ordered):
        ordered = ordered[mask[ordered]]
    dense = index.dense_scores(dense_query, ordered) if dense_query is not None else None
    into.kb_ids.extend([kb_id] * len(ordered))
    into.chunk_ids.extend(index.ids[ordered].tolist())
    into.keyword.extend(bm25[ordered].tolist())
    into.dense.extend(dense.tolist() if dense is not None else [np.nan] * len(ordered))


# --- the search ----------------------------------------------------------------------------


def allowed_documents(
    session: Session, tenant_id: str, kb_ids: list[str], filters: Filters
) -> dict[str, set[str]]:
    """KB id → ids of its searched documents that pass the filters (tenant checked here too):
    the ready ones, and those whose new version is being indexed, searched by the chunks of
    the version before it until then (``indexed.INDEXED``)."""
    query = select(KbDocument.id, KbDocument.kb_id).where(
        KbDocument.tenant_id == tenant_id,
        KbDocument.kb_id.in_(kb_ids),
        KbDocument.status.in_(indexed.INDEXED),
    )
    if filters.document_ids is not None:
        query = query.where(KbDocument.id.in_(filters.document_ids))
    if filters.filenames is not None:
        query = query.where(KbDocument.filename.in_(filters.filenames))
    if filters.content_types is not None:
        query = query.where(KbDocument.content_type.in_(filters.content_types))
    allowed: dict[str, set[str]] = {kb: set() for kb in kb_ids}
    for doc_id, kb_id in session.execute(query):
        allowed[kb_id].add(doc_id)
    return allowed


def search(
    session: Session,
    settings: Settings,
    principal: Principal,
    kb_ids: list[str],
    query: str,
    top_k: int = 5,
    mode: str = "hybrid",
    filters: Filters | None = None,
    dense_weight: float | None = None,
) -> list[Hit]:
    """The best ``top_k`` chunks for ``query`` among what the caller may read."""
    if not query.strip():
        raise refused_value("query_empty", "The query is empty", param="query")
    if mode not in MODES:
        raise refused_value(
            "literal_error",
            "mode must be one of {expected}",
            param="mode",
            expected=", ".join(MODES),
        )
    if not 1 <= top_k <= MAX_TOP_K:
        raise refused_value(
            "param_int_range",
            "top_k must be between {low} and {high}",
            param="top_k",
            low=1,
            high=MAX_TOP_K,
        )
    kb_ids = readable_kbs(session, principal, kb_ids)
    allowed = allowed_documents(session, principal.tenant_id, kb_ids, filters or Filters())
    dense_kbs = set(
        session.scalars(
            select(KnowledgeBase.id).where(
                KnowledgeBase.tenant_id == principal.tenant_id,
                KnowledgeBase.id.in_(kb_ids),
                KnowledgeBase.dense.is_(True),
            )
        )
    )
    vectors: dict[str | None, np.ndarray] = {}  # the query, embedded as each index was
    script = script_of(query)
    weight = DENSE_WEIGHT[script] if dense_weight is None else dense_weight
    if script == "cjk" and dense_weight is None and settings.kb_embedding_model_dir is not None:
        weight = OTHER_MODEL_CJK_WEIGHT
    if mode == "dense":
        weight = 1.0
    # The default model's vectors of Chinese are noise: a Chinese question takes keyword
    # candidates, ranked by BM25 and meaning ("hybrid") or by meaning alone ("dense").
    meaning_ranked = (
        script == "cjk"
        and mode != "keyword"
        and dense_weight is None
        and settings.kb_embedding_model_dir is None
    )
    found = Candidates()
    n = max(CANDIDATES, 3 * top_k)
    for kb_id in kb_ids:
        if not allowed[kb_id]:
            continue
        index = kb_index(session, settings, principal.tenant_id, kb_id, kb_id in dense_kbs)
        if index is None:
            continue
        query_vector = None
        if mode != "keyword" and kb_id in dense_kbs and weight > 0 and not meaning_ranked:
            if index.embedder not in vectors:
                vectors[index.embedder] = embedder_for(settings, index.embedder).embed([query])[0]
            query_vector = vectors[index.embedder]
        searched = "keyword" if meaning_ranked else mode
        candidates_from(kb_id, index, query, query_vector, allowed[kb_id], searched, n, found)
    if not found.chunk_ids:
        return []
    dense = np.asarray(found.dense, dtype=np.float32)
    keyword = np.asarray(found.keyword, dtype=np.float32)
    meaning = np.full(len(keyword), np.nan, dtype=np.float32)
    if meaning_ranked and dense_kbs:
        full = 1.0 if mode == "dense" else MEANING_WEIGHT
        by_row, weight = meaning_scores(session, settings, principal, dense_kbs, found, query, full)
        meaning = np.asarray(by_row, dtype=np.float32)
    if not np.isnan(meaning).all():
        fused = fuse_meaning(meaning, keyword, weight)
    else:
        has_dense = mode != "keyword" and not np.isnan(dense).all()
        fused = fuse(np.nan_to_num(dense, nan=0.0) if has_dense else None, keyword, weight)
    codes = np.zeros(len(fused), dtype=np.int64)
    if mode != "dense":  # a code the question names, held as written, comes first
        held = identifiers.holders(session, principal.tenant_id, found.chunk_ids, query)
        if held:
            codes = np.asarray([held.get(c, 0) for c in found.chunk_ids], dtype=np.int64)
            fused = np.where(codes > 0, np.maximum(fused, fused.max()), fused)  # scores agree
    order = np.lexsort((-fused, -codes))  # by the codes held, then by the fused score
    if mode == "keyword":
        order = order[keyword[order] > 0]
    # twice what is returned: room for the copies ``distinct`` drops
    pool = order[: 2 * (top_k * 3 if settings.kb_reranker_dir else top_k)]
    scores = {"fused": fused, "dense": dense, "keyword": keyword, "meaning": meaning}
    hits = distinct(_hydrate(session, principal, kb_ids, allowed, found, pool, scores))
    if settings.kb_reranker_dir and hits:
        hits = rerank(settings.kb_reranker_dir, query, hits)
    return hits[:top_k]


def distinct(hits: list[Hit]) -> list[Hit]:
    """The hits without repeats of a text already among them (best first): a company's
    knowledge base holds copies of its files (差旅费管理办法(1).txt, "Copy of handbook.docx"),
    and three copies of one chunk would fill the sources of a grounded answer."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = " ".join(hit.text.split())
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def meaning_scores(
    session: Session,
    settings: Settings,
    principal: Principal,
    dense_kbs: set[str],
    found: Candidates,
    query: str,
    full: float = MEANING_WEIGHT,
) -> tuple[list[float], float]:
    """``by_meaning`` for the candidates of dense KBs, their texts read from the database;
    NaN for a keyword-only KB's candidates (ranked by keywords alone)."""
    rows = session.execute(
        select(KbChunk.id, KbChunk.context, KbChunk.text).where(
            KbChunk.id.in_(found.chunk_ids),
            KbChunk.tenant_id == principal.tenant_id,
            KbChunk.kb_id.in_(dense_kbs),
        )
    ).all()
    texts = {chunk_id: indexed_text(header, body) for chunk_id, header, body in rows}
    keyword = dict(zip(found.chunk_ids, found.keyword, strict=True))
    wanted = [chunk_id for chunk_id in found.chunk_ids if chunk_id in texts]
    scores, weight = by_meaning(
        meanings.meanings_for(embedder_for(settings)),
        query,
        [texts[chunk_id] for chunk_id in wanted],
        np.asarray([keyword[chunk_id] for chunk_id in wanted], dtype=np.float32),
        full,
    )
    by_chunk = dict(zip(wanted, scores.tolist(), strict=True))
    return [by_chunk.get(chunk_id, float("nan")) for chunk_id in found.chunk_ids], weight


def by_meaning(
    reader: meanings.Meanings,
    query: str,
    texts: list[str],
    keyword: np.ndarray,
    full: float = MEANING_WEIGHT,
) -> tuple[np.ndarray, float]:
    """A Chinese question's dense scores with the default, English-only model: how close each
    candidate's words are in meaning to the question's (NaN for a candidate with no Chinese
    word, an English passage in a mixed knowledge base: its meaning is not read); and their
    weight in the fused score, ``full`` (``MEANING_WEIGHT``; 1 for the dense mode) as far as
    the language of the best keyword candidates that were read lets meanings be trusted
    (``meanings.trust``). Not trusted at all (classical Chinese): every score NaN, weight 0,
    so the candidates are ranked, and judged, by their keywords."""
    scores, readings = reader.similarities(query, texts)
    read = np.asarray([bool(r.vector.any()) for r in readings], dtype=bool)
    best = [i for i in np.argsort(-keyword, kind="stable") if read[i]][:TRUST_FROM]
    trusted = meanings.trust([readings[i] for i in best])
    if trusted == 0:
        read[:] = False
    return np.where(read, scores, np.nan).astype(np.float32), full * trusted


def fuse_meaning(meaning: np.ndarray, keyword: np.ndarray, weight: float) -> np.ndarray:
    """``fuse`` with meaning scores, where a candidate without one (an English passage, a
    keyword-only KB's chunk) counts as the median of those with one: neither lifted nor
    sunk by a judgement that was not made."""
    known = meaning[~np.isnan(meaning)]
    neutral = float(np.median(known)) if len(known) else 0.0
    return fuse(np.where(np.isnan(meaning), neutral, meaning), keyword, weight)


def _hydrate(
    session: Session,
    principal: Principal,
    kb_ids: list[str],
    allowed: dict[str, set[str]],
    found: Candidates,
    pool: np.ndarray,
    scores: dict[str, np.ndarray],
) -> list[Hit]:
    """Chunk rows for the winners, fetched with the tenant and KB filter once more
    (``scores``: each candidate's fused, dense, keyword and meaning score; NaN for none)."""
    fused, dense, keyword, meaning = (scores[k] for k in ("fused", "dense", "keyword", "meaning"))
    wanted = [found.chunk_ids[i] for i in pool]
    rows = session.execute(
        select(KbChunk, KbDocument.filename, KbDocument.title, KbDocument.period)
        .join(KbDocument, KbDocument.id == KbChunk.document_id)
        .where(
            KbChunk.id.in_(wanted),
            KbChunk.tenant_id == principal.tenant_id,
            KbChunk.kb_id.in_(kb_ids),
            KbDocument.status.in_(indexed.INDEXED),
        )
    ).all()
    by_id = {chunk.id: (chunk, filename, title, period) for chunk, filename, title, period in rows}
    hits = []
    for i in pool:
        entry = by_id.get(found.chunk_ids[i])
        if entry is None:
            continue
        chunk, filename, title, period = entry
        if chunk.document_id not in allowed.get(chunk.kb_id, set()):
            continue
        meta = dict(chunk.meta or {})
        if "file" in meta:  # from a file inside the document (an archive's): that file's
            title, period = meta.get("file_title") or title, meta.get("file_period")
        hits.append(
            Hit(
                chunk_id=chunk.id,
                kb_id=chunk.kb_id,
                document_id=chunk.document_id,
                filename=filename,
                page=chunk.page,
                headings=list(chunk.headings or []),
                text=chunk.text,
                score=float(fused[i]),
                dense_score=None if np.isnan(dense[i]) else float(dense[i]),
                keyword_score=float(keyword[i]),
                meta=meta,
                title=title,
                period=period,
                context=chunk.context,
                meaning_score=None if np.isnan(meaning[i]) else float(meaning[i]),
            )
        )
    return hits


_rerankers: dict[str, Any] = {}


def rerank(model_dir: Path, query: str, hits: list[Hit]) -> list[Hit]:
    """Reorder by a cross-encoder from a local directory (configured by the operator)."""
    load_transformers()
    from sentence_transformers import CrossEncoder

    key = str(model_dir)
    if key not in _rerankers:
        _rerankers[key] = CrossEncoder(key, local_files_only=True)
    scores = _rerankers[key].predict([(query, h.text) for h in hits], show_progress_bar=False)
    for hit, score in zip(hits, scores, strict=True):
        hit.score = float(score)
    return sorted(hits, key=lambda h: -h.score)


def term_weights(
    settings: Settings, tenant_id: str, kb_ids: list[str], session: Session | None = None
) -> dict[str, TermWeights]:
    """The IDF of each knowledge base's BM25 statistics, for judging relevance
    (``aigc.knowledge.relevance``); a KB without an index is left out. Where the database
    holds the index (pgvector), ``session`` reads the KB's keyword index at its current
    version; without one, the index this instance's last search built is used."""
    in_db = session is not None and pgvectors.column_dim(session.get_bind()) is not None
    weights = {}
    for kb_id in kb_ids:
        if in_db:
            assert session is not None
            index = db_index.keyword_index(session, tenant_id, kb_id)
        else:
            index = db_index.cached(tenant_id, kb_id) or load_index(
                index_dir(settings.data_dir, tenant_id, kb_id)
            )
        if index is not None:
            weights[kb_id] = TermWeights(index.bm25)
    return weights
