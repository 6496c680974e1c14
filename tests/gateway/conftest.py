"""Fixtures for the gateway's tests: a migrated database on every backend (plain-function
tests), and a started app with an admin client driven in process (route tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from aigc.app import create_app
from aigc.config import Settings
from aigc.infra import migrate
from aigc.infra.db import Database
from tests.e2e.server import new_admin_key
from tests.in_process import admin_client


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """One session on a freshly migrated database (SQLite and PostgreSQL via ``db_url``)."""
    migrate.upgrade(db_url)
    db = Database(db_url)
    with db.session() as s:
        yield s
    db.dispose()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the server's loop (not on trio as well)."""
    return "asyncio"


@pytest.fixture
def admin_key() -> str:
    return new_admin_key()


@pytest.fixture
async def app(tmp_path: Path, admin_key: str) -> AsyncIterator[FastAPI]:
    """A fresh app (no default models, no console); its lifespan runs around the test as
    uvicorn runs it."""
    settings = Settings(
        data_dir=tmp_path / "data", admin_key=admin_key, default_models=False, console=False
    )
    started = create_app(settings)
    async with started.router.lifespan_context(started):
        yield started


@pytest.fixture
async def api(app: FastAPI, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of ``app`` through httpx's ASGI transport: no server process."""
    async with admin_client(app, admin_key) as client:
        yield client
