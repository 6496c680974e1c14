"""Fixtures for the gateway's plain-function tests: a migrated database on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from aigc.infra import migrate
from aigc.infra.db import Database


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """One session on a freshly migrated database (SQLite and PostgreSQL via ``db_url``)."""
    migrate.upgrade(db_url)
    db = Database(db_url)
    with db.session() as s:
        yield s
    db.dispose()
