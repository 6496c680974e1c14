"""Migration 0005: each KB creator's own 'write' grant becomes 'manage'; every other 'write'
grant stays documents-only (issue 14, defect 9)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from aigc.infra import migrate


def test_creator_grants_become_manage_and_others_stay_write(db_url: str) -> None:
    migrate.upgrade(db_url, "0004_console")
    engine = create_engine(db_url)
    with engine.begin() as conn:
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
                "VALUES ('kb1', 't1', 'kb', '', false, 'u_creator', 0, CURRENT_TIMESTAMP)"
            )
        )
        for subject_type, subject, level in (
            ("user", "u_creator", "write"),
            ("user", "u_other", "write"),
            ("role", "member", "write"),
            ("role", "viewer", "read"),
        ):
            conn.execute(
                text(
                    "INSERT INTO kb_access (tenant_id, kb_id, subject_type, subject, level) "
                    "VALUES ('t1', 'kb1', :t, :s, :l)"
                ),
                {"t": subject_type, "s": subject, "l": level},
            )
    migrate.upgrade(db_url)
    with engine.connect() as conn:
        levels = dict(conn.execute(text("SELECT subject, level FROM kb_access")).all())
    engine.dispose()
    assert levels == {
        "u_creator": "manage",
        "u_other": "write",
        "member": "write",
        "viewer": "read",
    }
