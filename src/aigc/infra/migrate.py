"""Alembic migrations, run from code so no alembic.ini is needed: `aigc migrate` or at start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from aigc.infra.private import private_sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` in place (idempotent)."""
    private_sqlite(url)  # a SQLite file is created 0600 before Alembic opens it
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
