"""Reading the audit log back: one tenant's rows, filtered and paged, never another's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from aigc.infra.audit import AuditFilter, AuditLog, records
from aigc.infra.db import Database
from aigc.tables import Base
from tests.infra.test_audit import DAY1, SECRET, event


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    Base.metadata.create_all(database.engine)
    AuditLog(database, SECRET).append(
        [
            event(1, model="m1", endpoint="/v1/chat/completions"),
            event(2, model="m2", endpoint="/v1/completions", status=404),
            event(3, key_id="k2", user_id="u1", endpoint="/api/models", status=500),
            event(4, ts=DAY1 + timedelta(days=1), endpoint="/v1/chat/completions"),
            event(5, tenant_id="t2", model="m1", key_id="k9"),
            event(6, endpoint="/v1/c%_x", status=201),
        ]
    )
    yield database
    database.dispose()


def seqs(rows: list[dict[str, object]]) -> list[object]:
    return [r["seq"] for r in rows]


def test_rows_are_the_tenants_own_newest_first(db: Database) -> None:
    total, rows = records(db, "t1", AuditFilter())
    assert total == 5 and seqs(rows) == [6, 4, 3, 2, 1]
    assert rows[-1] == {
        "seq": 1,
        "request_id": "req-1",
        "ts": "2025-03-01T12:00:01.000000Z",
        "tenant_id": "t1",
        "key_id": "k1",
        "user_id": None,
        "method": "POST",
        "endpoint": "/v1/chat/completions",
        "model": "m1",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "latency_ms": 12.5,
        "guard": ["pii:redacted"],
        "images": 0,
    }
    assert records(db, "t2", AuditFilter())[0] == 1
    assert records(db, "nobody", AuditFilter()) == (0, [])


def test_filters(db: Database) -> None:
    def find(**where: str) -> list[object]:
        return seqs(records(db, "t1", AuditFilter(**where))[1])

    assert find(model="m1") == [6, 4, 3, 1]
    assert find(model="m2") == [2]
    assert find(key_id="k2") == [3] and find(user_id="u1") == [3]
    assert find(key_id="k9") == []  # t2's key: not in t1's log
    assert find(endpoint="/v1/chat") == [4, 1]
    assert find(endpoint="/v1/c%") == [6]  # wildcards in the prefix are literal
    assert find(status="404") == [2] and find(status="5xx") == [3]
    assert find(status="2xx") == [6, 4, 1]
    assert find(since_day="2025-03-02") == [4] and find(until_day="2025-03-01") == [6, 3, 2, 1]
    assert find(model="m1", endpoint="/v1/chat", until_day="2025-03-01") == [1]


def test_paging_and_bad_arguments(db: Database) -> None:
    total, first = records(db, "t1", AuditFilter(), limit=2)
    _, second = records(db, "t1", AuditFilter(), limit=2, offset=2)
    _, past = records(db, "t1", AuditFilter(), limit=2, offset=10)
    assert total == 5 and seqs(first) == [6, 4] and seqs(second) == [3, 2] and past == []
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        with pytest.raises(ValueError):
            records(db, "t1", AuditFilter(), **bad)
    for status in ("4x", "abc", "6xx"):
        with pytest.raises(ValueError):
            records(db, "t1", AuditFilter(status=status))
    with pytest.raises(ValueError):
        records(db, "t1", AuditFilter(since_day="yesterday"))
