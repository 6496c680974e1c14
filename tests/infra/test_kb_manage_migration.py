"""Migration 0005: each KB creator's own 'write' grant becomes 'manage'; every other 'write'
grant stays documents-only (issue 14, defect 9)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from aigc.infra import migrate
from tests.infra.migration_rows import tenant_and_kb


def test_creator_grants_become_manage_and_others_stay_write(db_url: str) -> None:
    migrate.upgrade(db_url, "0004_console")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        tenant_and_kb(conn, created_by="u_creator")
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
