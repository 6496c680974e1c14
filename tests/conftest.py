"""Shared fixtures: database URLs for every backend, Redis, and a live server with two orgs.

Server-backed fixtures read AIGC_TEST_POSTGRES_URL and AIGC_TEST_REDIS_URL (set by .ci/run) and
skip cleanly when they are absent or the server does not answer.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from aigc.infra.db import Database
from aigc.infra.schema import Tenant
from aigc.tables import Base
from tests.e2e.server import Org, Server, make_org, new_admin_key

POSTGRES_URL = os.environ.get("AIGC_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("AIGC_TEST_REDIS_URL")


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


@pytest.fixture
def tenant_db(db_url: str) -> Iterator[Database]:
    """A database with the schema and two tenants, ``t_a`` and ``t_b``."""
    database = Database(db_url)
    Base.metadata.create_all(database.engine)
    with database.session() as s:
        s.add_all([Tenant(id="t_a", name="A"), Tenant(id="t_b", name="B")])
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One live `aigc serve` process shared by the tests that need no special settings."""
    srv = Server(tmp_path_factory.mktemp("server") / "data", new_admin_key()).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def org_a(server: Server) -> Org:
    return make_org(server, "Org A")


@pytest.fixture(scope="session")
def org_b(server: Server) -> Org:
    return make_org(server, "Org B")
