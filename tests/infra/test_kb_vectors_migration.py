"""Migration 0011: pgvector's ``kb_vectors`` with its HNSW index on PostgreSQL (none on
SQLite), a unique (document, ordinal) for chunks on both; the downgrade removes them."""

from __future__ import annotations

import logging
import secrets

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from aigc.infra import migrate


def _indexes(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {i["name"] for i in inspect(conn).get_indexes(table) if i["name"]}
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_vectors_table_up_down_up_on_postgres(pgvector_url: str) -> None:
    engine = create_engine(pgvector_url)
    with engine.connect() as conn:
        dim = conn.execute(
            text(
                "SELECT atttypmod FROM pg_attribute "
                "WHERE attrelid = 'kb_vectors'::regclass AND attname = 'embedding'"
            )
        ).scalar()
        method = conn.execute(
            text(
                "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                "WHERE c.relname = 'ix_kb_vectors_hnsw'"
            )
        ).scalar()
    engine.dispose()
    assert dim == 384 and method == "hnsw"
    assert "uq_kb_chunks_doc_ordinal" in _indexes(pgvector_url, "kb_chunks")

    command.downgrade(migrate.alembic_config(pgvector_url), "0010_kb_chunk_context")
    assert "kb_vectors" not in _tables(pgvector_url)
    assert "uq_kb_chunks_doc_ordinal" not in _indexes(pgvector_url, "kb_chunks")

    migrate.upgrade(pgvector_url)
    assert "kb_vectors" in _tables(pgvector_url)


def test_sqlite_gets_the_unique_chunk_index_and_no_vectors(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    migrate.upgrade(url)
    assert "kb_vectors" not in _tables(url)
    assert "uq_kb_chunks_doc_ordinal" in _indexes(url, "kb_chunks")
    command.downgrade(migrate.alembic_config(url), "0010_kb_chunk_context")
    assert "uq_kb_chunks_doc_ordinal" not in _indexes(url, "kb_chunks")


def test_a_role_that_may_not_create_the_extension_gets_a_warning_and_no_vectors(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """pgvector is installed but not trusted: a database owner without superuser may not
    create it. The migration still succeeds, says why in the log, and leaves knowledge bases
    on the in-process path (no kb_vectors)."""
    role = f"aigc_owner_{secrets.token_hex(4)}"
    url = make_url(postgres_url)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'ALTER DATABASE "{url.database}" OWNER TO "{role}"'))
    as_owner = url.set(username=role).render_as_string(hide_password=False)
    try:
        with caplog.at_level(logging.WARNING, logger="aigc.migrations"):
            migrate.upgrade(as_owner)
        assert "kb_vectors" not in _tables(as_owner)
        assert "may not create the extension" in caplog.text
        head = ScriptDirectory.from_config(migrate.alembic_config(as_owner)).get_current_head()
        assert migrate.current_revision(as_owner) == head  # the later migrations ran too
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER'))
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()
