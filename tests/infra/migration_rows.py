"""Rows the knowledge migrations' tests start from: one tenant ``t1`` and its knowledge base
``kb1``, written in SQL (the ORM describes today's schema, not the revision under test)."""

from __future__ import annotations

from sqlalchemy import Connection, text


def tenant_and_kb(conn: Connection, name: str = "kb", created_by: str | None = None) -> None:
    """Tenant ``t1`` and its knowledge base ``kb1`` named ``name``, made by ``created_by``."""
    conn.execute(
        text(
            "INSERT INTO tenants (id, name, disabled, created_at) "
            "VALUES ('t1', 'T', false, CURRENT_TIMESTAMP)"
        )
    )
    conn.execute(
        text(
            "INSERT INTO knowledge_bases (id, tenant_id, name, description, dense, "
            "created_by, index_version, created_at) "
            "VALUES ('kb1', 't1', :name, '', false, :created_by, 0, CURRENT_TIMESTAMP)"
        ),
        {"name": name, "created_by": created_by},
    )
