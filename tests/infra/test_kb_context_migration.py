"""Migration 0010: documents gain a title and a period, chunks the context header indexed with
them (issue 18); existing rows keep their data, and the downgrade removes the columns."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from aigc.infra import migrate
from tests.infra.migration_rows import tenant_and_kb


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns(table)}
    finally:
        engine.dispose()


def test_context_columns_come_and_go_keeping_the_rows(db_url: str) -> None:
    migrate.upgrade(db_url, "0009_sso_oidc")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        tenant_and_kb(conn)
        conn.execute(
            text(
                "INSERT INTO kb_documents (id, tenant_id, kb_id, filename, source, content_type, "
                "bytes, sha256, status, pages, chunk_count, created_at, updated_at) VALUES "
                "('d1', 't1', 'kb1', '年报.pdf', 'upload', 'pdf', 1, '', 'ready', 1, 1, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO kb_chunks (tenant_id, kb_id, document_id, ordinal, text, page, "
                "headings, meta, tokens) VALUES ('t1', 'kb1', 'd1', 0, '营业收入增长', 1, "
                "'[]', '{}', 3)"
            )
        )
    assert "context" not in _columns(db_url, "kb_chunks")

    migrate.upgrade(db_url)
    assert {"title", "period"} <= _columns(db_url, "kb_documents")
    assert "context" in _columns(db_url, "kb_chunks")
    with engine.begin() as conn:
        row = conn.execute(text("SELECT text, context FROM kb_chunks")).one()
        assert tuple(row) == ("营业收入增长", None)  # kept; filled when re-ingested
        conn.execute(
            text("UPDATE kb_documents SET title = '华东电气2023年第二季度报告', period = :p"),
            {"p": "2023年第二季度"},
        )
        conn.execute(text("UPDATE kb_chunks SET context = '华东电气 | 2023年第二季度'"))

    command.downgrade(migrate.alembic_config(db_url), "0009_sso_oidc")
    assert not {"title", "period"} & _columns(db_url, "kb_documents")
    assert "context" not in _columns(db_url, "kb_chunks")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT text FROM kb_chunks")).scalar_one() == "营业收入增长"
    engine.dispose()
    migrate.upgrade(db_url)  # and up again
    assert "context" in _columns(db_url, "kb_chunks")
