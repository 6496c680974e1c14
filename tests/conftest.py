"""Shared fixtures: database URLs for every backend, Redis, a live server with two orgs, and a
stub OpenAI-compatible upstream.

PostgreSQL and Redis: the servers named by AIGC_TEST_POSTGRES_URL and AIGC_TEST_REDIS_URL when
set, else throwaway servers (tests/services.py) started on the first test that needs one. Tests
skip only when neither is possible, and tests/skips.py lists every skip at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from aigc.infra.db import Database
from aigc.infra.schema import Tenant
from aigc.tables import Base
from tests import services
from tests.e2e.cluster import create_database, drop_database
from tests.e2e.server import Org, Server, make_org, new_admin_key
from tests.engine.stub_openai import StubServer
from tests.s3_server import moto_s3

pytest_plugins = ["tests.skips"]


@pytest.fixture(scope="session", autouse=True)
def shared_onnx_export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One ONNX export of the embedding model for the whole run (servers started by tests
    inherit it), instead of one per test's data directory: exporting takes ~10 s."""
    if "AIGC_KB_ONNX_DIR" in os.environ:
        yield
        return
    os.environ["AIGC_KB_ONNX_DIR"] = str(tmp_path_factory.mktemp("onnx"))
    yield
    os.environ.pop("AIGC_KB_ONNX_DIR", None)


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server for the module's S3 runs (tests/s3_server.py), stopped after it."""
    with moto_s3(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The admin URL of this session's PostgreSQL (a superuser that may create databases)."""
    given = os.environ.get("AIGC_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bindir = services.postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH) "
            "and AIGC_TEST_POSTGRES_URL is not set"
        )
    server = services.Postgres(bindir).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of this session's Redis."""
    given = os.environ.get("AIGC_TEST_REDIS_URL")
    if given:
        yield given
        return
    binary = services.redis_binary()
    if binary is None:
        pytest.skip(
            "Redis is not installed (no redis-server on PATH) and AIGC_TEST_REDIS_URL is not set"
        )
    server = services.Redis(binary).start()
    yield server.url
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url = create_database(postgres_server, prefix="aigc_test")
    try:
        yield url
    finally:
        drop_database(postgres_server, url)


@pytest.fixture
def pgvector_url(postgres_url: str) -> str:
    """A fresh PostgreSQL database migrated to the head, with pgvector's ``kb_vectors`` (the
    throwaway server uses the system's pgvector, built by `make deps` where Debian lacks it).
    Without pgvector this skips, and a skip fails CI's no-skip run."""
    from aigc.infra import migrate

    migrate.upgrade(postgres_url)
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        present = conn.execute(text("SELECT to_regclass('kb_vectors')")).scalar()
    engine.dispose()
    if present is None:
        pytest.skip(
            "pgvector is not installed in this PostgreSQL (no vector extension; "
            "`sudo make deps` builds it from ../shared/vendor/pgvector-0.8.6.tar.gz)"
        )
    return postgres_url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aigc.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """A Redis URL whose database is flushed before and after the test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield redis_server
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


def pytest_sessionstart(session: pytest.Session) -> None:
    """Import Faker's providers (the guard's name and place lists) before any test runs.

    Faker is a pytest plugin, so pytest compiles each of its modules through the assertion
    rewriter when it is first imported; the guard imports its ~200 locale providers lazily,
    inside whichever test first detects a name. Once, in a full run, that compile met CPython
    3.11's intermittent "AST constructor recursion depth mismatch" (pytest-dev/pytest#10874)
    mid-suite; at session start no test has run yet."""
    from aigc.guard import gazetteer

    gazetteer.lists()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """A failed test that used the shared live server shows the tail of that server's log, so
    a failure seen only in CI (a slow machine, a timing) can be read without rerunning it."""
    report = yield
    live = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(live, Server) and live.log_path.exists():
        lines = live.logs().splitlines()[-SERVER_LOG_TAIL:]
        report.sections.append(("live server log (last lines)", "\n".join(lines)))
    return report


SERVER_LOG_TAIL = 80


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


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    """A stub OpenAI-compatible upstream (``tests/engine/stub_openai.py``) on a free loopback
    port, one per test module: its recorded calls and bodies are that module's alone."""
    with StubServer() as upstream:
        yield upstream
