"""A knowledge base's index when the database holds it (PostgreSQL with pgvector).

Vectors stay in PostgreSQL and are searched there (``pgvectors``). BM25 needs the KB's
term statistics in memory, so each instance builds its keyword index from the database's
chunk rows and keeps it as a *cache* keyed by the KB's ``index_version``: when another
instance (or this one) bumps the version, the next search rebuilds it, reusing the tokens of
chunks it already holds, so only new chunks are tokenised. Nothing on an instance's disk is
the source of truth; a new instance with an empty data directory searches at once.

``DbIndex`` is a ``KbIndex`` without vectors whose dense search and dense scores are SQL
queries, so the fusion code (``retrieve.candidates_from``) is the same for both paths.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.knowledge import indexed, pgvectors
from aigc.knowledge.index import Hits, KbIndex
from aigc.knowledge.tables import KnowledgeBase

_cache: dict[tuple[str, str], tuple[int, KbIndex]] = {}  # (tenant, kb) → (version, keyword)
_cache_lock = threading.Lock()


class DbIndex(KbIndex):
    """The cached keyword index of one KB, searching its vectors in the database through the
    session of the request (so the tenant filter is that request's)."""

    def __init__(
        self, keyword: KbIndex, session: Session, tenant_id: str, kb_id: str, dense: bool
    ) -> None:
        # share the keyword index's arrays; nothing is copied or re-tokenised
        self.__dict__.update(keyword.__dict__)
        self.session, self.tenant_id, self.kb_id = session, tenant_id, kb_id
        self.is_dense = dense

    @property
    def dense(self) -> bool:
        return self.is_dense

    def vector(self, query_vector: np.ndarray, k: int, mask: np.ndarray | None = None) -> Hits:
        """The ``k`` nearest chunks among the rows ``mask`` allows: the allowed documents go
        into the SQL query's WHERE (with tenant and KB), so HNSW never returns another."""
        if not len(self):
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        documents = (
            self.doc_names
            if mask is None
            else [self.doc_names[c] for c in np.unique(self.doc_codes[mask])]
        )
        found = pgvectors.nearest(
            self.session,
            self.tenant_id,
            [self.kb_id],
            documents,
            query_vector,
            self.embedder or "",
            k,
        )
        pairs = [(self.row_of[c], s) for c, s in found if c in self.row_of]
        return Hits(
            np.asarray([r for r, _ in pairs], dtype=np.int64),
            np.asarray([s for _, s in pairs], dtype=np.float32),
        )

    def dense_scores(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        ids = self.ids[rows]
        found = pgvectors.scores(
            self.session, self.tenant_id, ids.tolist(), query_vector, self.embedder or ""
        )
        return np.asarray([found.get(int(c), 0.0) for c in ids], dtype=np.float32)


def keyword_index(session: Session, tenant_id: str, kb_id: str) -> KbIndex | None:
    """The KB's keyword index at its current ``index_version``: the cached one, or one built
    from the database's rows (incrementally from the cached one). None: no such KB."""
    kb = session.scalar(
        select(KnowledgeBase).where(KnowledgeBase.id == kb_id, KnowledgeBase.tenant_id == tenant_id)
    )
    if kb is None:
        return None
    key = (tenant_id, kb_id)
    cached = _cache.get(key)
    if cached is not None and cached[0] == kb.index_version:
        return cached[1]
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == kb.index_version:
            return cached[1]
        index = _rebuild(session, tenant_id, kb_id, cached[1] if cached else None)
        _cache[key] = (kb.index_version, index)
        return index


def cached(tenant_id: str, kb_id: str) -> KbIndex | None:
    """The keyword index a search of this instance built last (for term weights), if any."""
    entry = _cache.get((tenant_id, kb_id))
    return entry[1] if entry else None


def _rebuild(session: Session, tenant_id: str, kb_id: str, previous: KbIndex | None) -> KbIndex:
    wanted = indexed.chunk_documents(session, tenant_id, kb_id)
    base = previous if previous is not None else KbIndex.empty(dense=False)
    have = {int(c) for c in base.ids}
    new_ids = [cid for cid in wanted if cid not in have]
    texts = indexed.indexed_texts(session, new_ids)
    headers = indexed.document_headers(session, tenant_id, kb_id)
    return base.updated(have & wanted.keys(), new_ids, texts, None, wanted, headers)


def db_index(
    session: Session, tenant_id: str, kb_id: str, dense: bool, embedder: str | None
) -> DbIndex | None:
    """The KB's index for one search on the database path; ``embedder`` names the vectors
    searched (the configured embedder's signature)."""
    keyword = keyword_index(session, tenant_id, kb_id)
    if keyword is None:
        return None
    index = DbIndex(keyword, session, tenant_id, kb_id, dense)
    index.embedder = embedder
    return index


def forget(kb_ids: Sequence[str] | None = None) -> None:
    """Drop cached keyword indexes (all, or of these KBs): a new instance's state, in tests."""
    with _cache_lock:
        for key in list(_cache):
            if kb_ids is None or key[1] in kb_ids:
                del _cache[key]
