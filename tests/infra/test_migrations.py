"""Migrations create the schema the code expects and upgrade an existing database in place."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from aigc.infra import migrate
from aigc.knowledge import pgvectors  # noqa: F401  (pgvector's "vector" type, for reflection)
from aigc.tables import Base  # every package's tables on Base.metadata


def _not_kb_vectors(obj: object, name: str | None, type_: str, *_: object) -> bool:
    """``kb_vectors`` exists only where pgvector does: a Core table of
    knowledge/pgvectors.py, made by migration 0011 alone, not one of the models."""
    return not (type_ == "table" and name == "kb_vectors")


def test_migrations_match_the_models(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _not_kb_vectors})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_upgrade_in_place_keeps_data_and_is_idempotent(db_url: str) -> None:
    migrate.upgrade(db_url, "0001")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, name, disabled, created_at) "
                "VALUES ('org_1', 'Kept', false, CURRENT_TIMESTAMP)"
            )
        )
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM tenants")).scalar_one() == "Kept"
        assert "audit_head" in inspect(conn).get_table_names()
    engine.dispose()
    assert migrate.current_revision(db_url) is not None
