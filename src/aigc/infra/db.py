"""Database engine and sessions (SQLAlchemy 2): SQLite in WAL mode by default, PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from aigc.infra.private import private_sqlite


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    """An engine tuned for the backend: SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        private_sqlite(url)  # 0600 before SQLite creates it (its -wal/-shm take its mode)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,  # an error's message and the logs carry no row values
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(
        url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. ``Session.execute`` is typed as returning a plain
    ``Result``; for those statements it is always a ``CursorResult``, which counts them."""
    assert isinstance(result, CursorResult), type(result)
    return result.rowcount


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def of(cls, engine: Engine) -> Database:
        """A Database over an engine that exists already (sessions of its own, same pool):
        for code handed a session that must open sessions of its own."""
        db = cls.__new__(cls)
        db.url = engine.url.render_as_string(hide_password=False)
        db.engine = engine
        db._sessions = sessionmaker(engine, expire_on_commit=False)
        return db

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
