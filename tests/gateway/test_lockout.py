"""The sign-in lockout under parallel attempts: counted atomically in the database.

Each thread has its own session (its own connection), as parallel requests or several server
instances would; the password check is counted so the test can tell checked from refused.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from aigc.gateway import accounts, sessions
from aigc.infra import migrate
from aigc.infra.db import Database
from aigc.infra.schema import User

PASSWORD = "correct horse battery"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """SQLite, then PostgreSQL (``db_url``)."""
    migrate.upgrade(db_url)
    database = Database(db_url)
    with database.session() as s:
        tenant = accounts.create_tenant(s, None, "Acme", None)
        accounts.create_user(
            s, None, tenant_id=tenant.id, username="li.wei", password=PASSWORD, role="member"
        )
    yield database
    database.dispose()


def _attempt(db: Database, password: str) -> sessions.SignIn:
    with db.session() as s:
        return sessions.sign_in(s, "li.wei", password)


def test_forty_parallel_wrong_passwords_lock_the_account(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = Counter[str]()
    lock = threading.Lock()
    real_verify = sessions.verify_password

    def counted(password_hash: str, password: str) -> bool:
        with lock:
            checks["verify"] += 1
        return real_verify(password_hash, password)

    monkeypatch.setattr(sessions, "verify_password", counted)
    start = threading.Barrier(40)

    def wrong(_: int) -> str | None:
        start.wait()
        return _attempt(db, "not the password").error

    with ThreadPoolExecutor(max_workers=40) as pool:
        errors = Counter(pool.map(wrong, range(40)))
    assert checks["verify"] <= sessions.MAX_FAILURES  # the rest were refused unchecked
    assert errors["locked"] >= 40 - sessions.MAX_FAILURES + 1 and errors["invalid"] < 5
    with db.session() as s:
        user = s.query(User).filter_by(username="li.wei").one()
        assert user.locked_until is not None
    right = _attempt(db, PASSWORD)
    assert right.secret is None and right.error == "locked"
    # Once the lock has expired the right password works and the count starts again.
    later = right.locked_until + sessions.LOCKOUT  # type: ignore[operator]
    with db.session() as s:
        assert sessions.sign_in(s, "li.wei", PASSWORD, now=later).secret is not None
    with db.session() as s:
        user = s.query(User).filter_by(username="li.wei").one()
        assert user.failed_logins == 0 and user.locked_until is None


def test_the_fifth_failure_locks_and_a_success_resets_the_count(db: Database) -> None:
    for _ in range(sessions.MAX_FAILURES - 1):
        assert _attempt(db, "wrong").error == "invalid"
    assert _attempt(db, PASSWORD).secret is not None  # resets the count
    for _ in range(sessions.MAX_FAILURES - 1):
        assert _attempt(db, "wrong").error == "invalid"
    locked = _attempt(db, "wrong")
    assert locked.error == "locked" and locked.locked_until is not None
    assert locked.locked_until > datetime.now(UTC)
    assert _attempt(db, PASSWORD).error == "locked"
