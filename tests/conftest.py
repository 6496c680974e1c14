"""Shared fixtures: database URLs for every backend, a Redis URL, free ports.

Server-backed fixtures read AIGC_TEST_POSTGRES_URL and AIGC_TEST_REDIS_URL (set by .ci/run) and
skip cleanly when they are absent or the server does not answer.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("AIGC_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("AIGC_TEST_REDIS_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("AIGC_TEST_POSTGRES_URL not set (PostgreSQL tests run in CI)")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"aigc_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # server down: skip, never fail
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aigc.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL whose database is flushed before and after the test."""
    if not REDIS_URL:
        pytest.skip("AIGC_TEST_REDIS_URL not set (Redis tests run in CI)")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except Exception as exc:
        pytest.skip(f"Redis not reachable: {exc}")
    yield REDIS_URL
    client.flushdb()
    client.close()
