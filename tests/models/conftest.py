"""Fixtures for the model tests: a throwaway SQLite database with one tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aigc.infra.db import Database
from aigc.infra.schema import Tenant
from aigc.tables import Base


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite database with the schema and tenant ``t_a``, for training-job tests."""
    database = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as s:
        s.add(Tenant(id="t_a", name="A"))
    yield database
    database.dispose()
