"""Chunk vectors in PostgreSQL (pgvector): written with their chunks, searched in the database.

On PostgreSQL where migration ``0011_kb_vectors`` could create the ``vector`` extension, the
table ``kb_vectors`` holds one normalised vector per chunk with the chunk's tenant, knowledge
base and document, and an HNSW index (inner product: on normalised vectors, cosine). Dense
search is then one SQL query that filters by tenant, the knowledge bases the caller may read
and the documents it may see *inside* the query, so a forbidden chunk is never a candidate,
and every gateway instance searches the same vectors: nothing is held on an instance's disk.

The column has the default embedder's dimension (384, all-MiniLM-L6-v2). A knowledge base
embedded by a model of another dimension stays on the in-process FAISS path (``usable`` says
no), as does everything on SQLite or on a PostgreSQL without pgvector.

``kb_vectors`` is not one of the ORM models: it exists only where the extension does, so it
is described here as a Core table and created by the migration alone.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from aigc.knowledge.indexed import INDEXED

log = logging.getLogger("aigc.knowledge")

TABLE = "kb_vectors"
DIM = 384  # the column's dimension: the default embedder's (knowledge/embed.py)
# HNSW search breadth per query (pgvector's default is 40): recall@10 ≥ 0.95 at 100k chunks
# (bench/scale_search.py); at least k is searched either way.
EF_SEARCH = 100
# pgvector 0.8: when the filter drops candidates, scan the graph further until k rows pass
# (relaxed order: results re-sorted by the outer query) instead of returning fewer.
ITERATIVE_SCAN = "relaxed_order"
MAX_SCAN_TUPLES = 40_000  # hnsw.max_scan_tuples: the bound on that further scan

vectors_table = Table(
    TABLE,
    MetaData(),
    Column("chunk_id", BigInteger, primary_key=True),
    Column("tenant_id", String(40), nullable=False),
    Column("kb_id", String(40), nullable=False),
    Column("document_id", String(40), nullable=False),
    Column("embedder", String(200), nullable=False),
    Column("embedding", Vector(DIM), nullable=False),
)

_dims: weakref.WeakKeyDictionary[Engine, int | None] = weakref.WeakKeyDictionary()


def column_dim(bind: Engine | Connection) -> int | None:
    """The dimension of ``kb_vectors.embedding`` in this database, or None when there is no
    such table (SQLite, or PostgreSQL without pgvector). Asked once per engine."""
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "postgresql":
        return None
    if engine not in _dims:
        with engine.connect() as conn:
            _dims[engine] = conn.execute(
                text(
                    "SELECT a.atttypmod FROM pg_attribute a "
                    "WHERE a.attrelid = to_regclass(:t) AND a.attname = 'embedding'"
                ),
                {"t": TABLE},
            ).scalar()
    return _dims[engine]


def usable(engine: Engine | Connection, dim: int | None) -> bool:
    """Whether a knowledge base lives in the database here: PostgreSQL with ``kb_vectors``,
    and (for a dense KB) an embedder of the column's dimension. ``dim`` None: keyword only."""
    have = column_dim(engine)
    if have is None:
        return False
    if dim is not None and dim != have:
        log.warning(
            "the embedder's dimension %d is not kb_vectors' %d: its knowledge bases stay on "
            "the in-process FAISS path",
            dim,
            have,
        )
        return False
    return True


def forget(engine: Engine) -> None:
    """Drop the remembered answer of ``column_dim`` (after a migration, in tests)."""
    _dims.pop(engine, None)


def write(
    session: Session,
    tenant_id: str,
    kb_id: str,
    rows: Sequence[tuple[int, str]],
    vectors: np.ndarray,
    embedder: str,
) -> None:
    """Store (or replace) the vectors of chunks ``rows`` ((chunk id, document id) each), in the
    caller's transaction: with the chunks themselves at ingestion."""
    if not len(rows):
        return
    values = [
        {
            "chunk_id": int(cid),
            "tenant_id": tenant_id,
            "kb_id": kb_id,
            "document_id": doc,
            "embedder": embedder,
            "embedding": np.asarray(vec, dtype=np.float32),
        }
        for (cid, doc), vec in zip(rows, vectors, strict=True)
    ]
    stmt = pg_insert(vectors_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["chunk_id"],
        set_={"embedder": stmt.excluded.embedder, "embedding": stmt.excluded.embedding},
    )
    session.execute(stmt, values)


def missing(session: Session, tenant_id: str, kb_id: str, embedder: str) -> list[int]:
    """Chunks of the KB's indexed documents without a vector made by ``embedder`` (ingested
    before pgvector, or by another model: each is embedded again, once)."""
    return list(session.scalars(_MISSING, {"t": tenant_id, "k": kb_id, "e": embedder}))


_MISSING = text(
    "SELECT c.id FROM kb_chunks c "
    "JOIN kb_documents d ON d.id = c.document_id "
    "LEFT JOIN kb_vectors v ON v.chunk_id = c.id AND v.embedder = :e "
    "WHERE c.tenant_id = :t AND c.kb_id = :k "
    "AND d.status IN :indexed AND v.chunk_id IS NULL "
    "ORDER BY c.id"
).bindparams(bindparam("indexed", value=list(INDEXED), expanding=True))


def lacking(session: Session) -> list[tuple[str, str]]:
    """(tenant, KB) of every dense knowledge base with an indexed chunk that has no vector at
    all: stored by a version before ``0011_kb_vectors`` (vectors in files then), or before
    pgvector was installed. Dense search finds none of those chunks until the KB is synced."""
    return [(row[0], row[1]) for row in session.execute(_LACKING)]


_LACKING = text(
    "SELECT DISTINCT c.tenant_id, c.kb_id FROM kb_chunks c "
    "JOIN kb_documents d ON d.id = c.document_id "
    "JOIN knowledge_bases k ON k.id = c.kb_id "
    "LEFT JOIN kb_vectors v ON v.chunk_id = c.id "
    "WHERE k.dense AND d.status IN :indexed AND v.chunk_id IS NULL"
).bindparams(bindparam("indexed", value=list(INDEXED), expanding=True))


_NEAREST = text(
    "WITH hits AS MATERIALIZED ("
    " SELECT chunk_id, (embedding <#> :q) AS distance FROM kb_vectors"
    " WHERE tenant_id = :t AND kb_id = ANY(:kbs) AND document_id = ANY(:docs)"
    " AND embedder = :e"
    " ORDER BY embedding <#> :q LIMIT :k"
    ") SELECT chunk_id, -distance FROM hits ORDER BY distance, chunk_id"
).bindparams(
    bindparam("q", type_=Vector(DIM)),
    bindparam("kbs", type_=ARRAY(String)),
    bindparam("docs", type_=ARRAY(String)),
)


def nearest(
    session: Session,
    tenant_id: str,
    kb_ids: Sequence[str],
    documents: Sequence[str],
    query: np.ndarray,
    embedder: str,
    k: int,
) -> list[tuple[int, float]]:
    """The ``k`` chunks nearest to ``query`` (chunk id, cosine) among the given documents of
    the given KBs of the tenant: the filter is inside the query, never applied afterwards."""
    if not documents or not kb_ids:
        return []
    session.execute(text(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(k))}"))
    session.execute(text(f"SET LOCAL hnsw.iterative_scan = {ITERATIVE_SCAN}"))
    session.execute(text(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}"))
    rows = session.execute(
        _NEAREST,
        {
            "q": np.asarray(query, dtype=np.float32),
            "t": tenant_id,
            "kbs": list(kb_ids),
            "docs": list(documents),
            "e": embedder,
            "k": int(k),
        },
    ).all()
    return [(int(cid), float(score)) for cid, score in rows]


_SCORES = text(
    "SELECT chunk_id, -(embedding <#> :q) FROM kb_vectors"
    " WHERE tenant_id = :t AND chunk_id = ANY(:ids) AND embedder = :e"
).bindparams(bindparam("q", type_=Vector(DIM)), bindparam("ids", type_=ARRAY(BigInteger)))


def scores(
    session: Session, tenant_id: str, chunk_ids: Sequence[int], query: np.ndarray, embedder: str
) -> dict[int, float]:
    """The exact cosine of chosen chunks (candidates that BM25 found) to ``query``."""
    if not len(chunk_ids):
        return {}
    rows = session.execute(
        _SCORES,
        {
            "q": np.asarray(query, dtype=np.float32),
            "t": tenant_id,
            "ids": [int(c) for c in chunk_ids],
            "e": embedder,
        },
    ).all()
    return {int(cid): float(score) for cid, score in rows}
