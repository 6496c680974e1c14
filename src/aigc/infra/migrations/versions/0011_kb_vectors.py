"""knowledge: chunk vectors in PostgreSQL (pgvector), one row per (document, ordinal)

On PostgreSQL, ``CREATE EXTENSION IF NOT EXISTS vector`` when the server has pgvector and the
role may create it; then ``kb_vectors`` (a normalised 384-dimensional vector per chunk, with
its tenant, knowledge base and document for filtering inside the query) and an HNSW index on
inner product. Where the extension is missing or may not be created, a warning says so and
knowledge bases stay on the in-process FAISS path (docs/knowledge.md). SQLite: no vectors.

On both, a unique index on ``kb_chunks (document_id, ordinal)``: a chunk is stored once, even
when two instances store the same document at the same time.

Revision ID: 0011_kb_vectors
Revises: 0010_kb_chunk_context
Create Date: 2026-12-03 16:40:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_kb_vectors"
down_revision: str | None = "0010_kb_chunk_context"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("aigc.migrations")
DIM = 384  # knowledge/pgvectors.py DIM: the default embedder's dimension


def _extension() -> bool:
    """Whether ``vector`` is installed in this database now (created here if need be)."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first():
        return True
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if not available:
        log.warning(
            "PostgreSQL has no pgvector extension: knowledge bases stay on the in-process "
            "FAISS path. To move them into the database later: install pgvector (a distribution's "
            "package, or `make deps`), then run this migration again (downgrade to "
            "0010_kb_chunk_context, then `aigc migrate`)"
        )
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:
        log.warning(
            "pgvector is installed but this role may not create the extension (%s): knowledge "
            "bases stay on the in-process FAISS path. A superuser can run "
            "`CREATE EXTENSION vector` in this database",
            str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__,
        )
        return False
    return True


def upgrade() -> None:
    op.create_index(
        "uq_kb_chunks_doc_ordinal", "kb_chunks", ["document_id", "ordinal"], unique=True
    )
    if op.get_bind().dialect.name != "postgresql" or not _extension():
        return
    op.execute(
        f"""
        CREATE TABLE kb_vectors (
            chunk_id BIGINT PRIMARY KEY REFERENCES kb_chunks (id) ON DELETE CASCADE,
            tenant_id VARCHAR(40) NOT NULL,
            kb_id VARCHAR(40) NOT NULL,
            document_id VARCHAR(40) NOT NULL,
            embedder VARCHAR(200) NOT NULL,
            embedding vector({DIM}) NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX ix_kb_vectors_kb ON kb_vectors (tenant_id, kb_id, document_id)")
    op.execute(
        "CREATE INDEX ix_kb_vectors_hnsw ON kb_vectors USING hnsw (embedding vector_ip_ops) "
        "WITH (m = 16, ef_construction = 64)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS kb_vectors")
    op.drop_index("uq_kb_chunks_doc_ordinal", table_name="kb_chunks")
