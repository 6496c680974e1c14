"""The audit chain: tamper detection, concurrent writers, the background writer, usage."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from aigc.infra.audit import (
    AuditEvent,
    AuditIntegrityError,
    AuditLog,
    AuditWriter,
    tokens_used_on,
    usage,
)
from aigc.infra.db import Database
from aigc.tables import Base

SECRET = b"test-secret"
DAY1 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def event(n: int, **overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "request_id": f"req-{n}",
        "ts": DAY1 + timedelta(seconds=n),
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
        "guard": ("pii:redacted",),
    }
    fields.update(overrides)
    return AuditEvent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def log(db: Database) -> AuditLog:
    audit = AuditLog(db, SECRET)
    audit.append([event(n) for n in range(1, 11)])
    return audit


def sql(db: Database, statement: str, **params: object) -> None:
    with db.session() as session:
        session.execute(text(statement), params)


def test_untouched_chain_verifies(log: AuditLog) -> None:
    log.append([event(11)])
    result = log.verify()
    assert result.ok, result.problems
    assert result.count == 11


def test_empty_log_verifies(db: Database) -> None:
    result = AuditLog(db, SECRET).verify()
    assert result.ok and result.count == 0


def test_wrong_secret_fails(db: Database, log: AuditLog) -> None:
    result = AuditLog(db, b"other").verify()
    assert not result.ok
    assert "head signature invalid" in result.problems


def test_edited_row_detected(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_records SET status = 500 WHERE seq = 7")
    result = log.verify()
    assert not result.ok
    assert result.problems == ["row 7 was edited"]


def test_deleted_middle_row_detected(db: Database, log: AuditLog) -> None:
    sql(db, "DELETE FROM audit_records WHERE seq = 5")
    result = log.verify()
    assert result.problems == ["row 5 is missing"]
    assert result.count == 9


def test_forged_row_at_the_end_detected(db: Database, log: AuditLog) -> None:
    with db.session() as session:
        last = session.execute(text("SELECT hash FROM audit_records WHERE seq = 10")).scalar_one()
    forged = hashlib.sha256(b"forged").hexdigest()
    sql(
        db,
        "INSERT INTO audit_records (seq, request_id, ts, day, tenant_id, key_id, user_id,"
        " method, endpoint, model, status, prompt_tokens, completion_tokens, latency_ms,"
        " guard, prev_hash, hash) VALUES (11, 'req-x', '2025-03-01T12:00:11.000000Z',"
        " '2025-03-01', 't1', 'k1', NULL, 'POST', '/v1/chat/completions', 'm1', 200, 1, 1,"
        " 1.0, '[]', :prev, :hash)",
        prev=last,
        hash=forged,
    )
    result = log.verify()
    assert result.problems == ["row 11 was inserted"]


def test_replaced_row_detected(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_records SET hash = :h WHERE seq = 4", h="ab" * 32)
    result = log.verify()
    assert result.problems == ["row 4 was edited"]


def test_last_row_removed_detected(db: Database, log: AuditLog) -> None:
    sql(db, "DELETE FROM audit_records WHERE seq = 10")
    result = log.verify()
    assert result.problems == ["the last 1 row(s) were removed"]


def test_tampered_head_detected(db: Database, log: AuditLog) -> None:
    sql(db, "DELETE FROM audit_records WHERE seq >= 9")
    with db.session() as session:
        last = session.execute(text("SELECT hash FROM audit_records WHERE seq = 8")).scalar_one()
    sql(db, "UPDATE audit_head SET count = 8, last_hash = :h WHERE id = 1", h=last)
    result = log.verify()
    assert result.problems == ["head signature invalid"]


def test_append_refuses_to_launder_a_tampered_head(db: Database, log: AuditLog) -> None:
    sql(db, "UPDATE audit_head SET count = 9 WHERE id = 1")
    with pytest.raises(AuditIntegrityError):
        log.append([event(99)])
    assert not log.verify().ok


def test_deleted_head_detected(db: Database, log: AuditLog) -> None:
    sql(db, "DELETE FROM audit_head")
    assert log.verify().problems == ["the head row is missing"]
    with pytest.raises(AuditIntegrityError):
        log.append([event(99)])


def test_two_processes_append_concurrently(db_url: str, db: Database) -> None:
    """Two Database objects stand in for two server processes sharing one database."""
    other = Database(db_url)
    logs = [AuditLog(db, SECRET), AuditLog(other, SECRET)]
    per_thread, threads_per_log = 15, 3
    errors: list[BaseException] = []

    def work(log: AuditLog, tag: int) -> None:
        try:
            for i in range(per_thread):
                log.append([event(tag * 1000 + i), event(tag * 1000 + i + 500)])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(logs[t % 2], t)) for t in range(2 * threads_per_log)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.dispose()
    assert not errors
    result = logs[0].verify()
    assert result.ok, result.problems
    assert result.count == 2 * threads_per_log * per_thread * 2


def test_writer_flush_and_close_commit_everything(db: Database) -> None:
    log = AuditLog(db, SECRET)
    writer = AuditWriter(log, max_batch=7, flush_interval_s=0.01)
    writer.start()
    for n in range(1, 51):
        writer.submit(event(n))
    writer.flush()
    assert log.verify().count == 50
    for n in range(51, 101):
        writer.submit(event(n))
    writer.close()
    result = log.verify()
    assert result.ok and result.count == 100
    with pytest.raises(RuntimeError):
        writer.submit(event(101))


def test_writer_retries_a_failing_batch(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(db, SECRET)
    real_append = log.append
    failures = iter([True, True])

    def flaky(events: list[AuditEvent]) -> None:
        if next(failures, False):
            raise OSError("database is locked")
        real_append(events)

    monkeypatch.setattr(log, "append", flaky)
    writer = AuditWriter(log, flush_interval_s=0.0)
    writer.start()
    with caplog.at_level(logging.ERROR, logger="aigc.audit"):
        writer.submit(event(1, request_id="secret-looking-id"))
        writer.flush()
        writer.close()
    assert log.verify().count == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "aigc.audit"]
    assert len(messages) == 2 and all("retrying" in m for m in messages)
    assert not any("secret-looking-id" in m for m in messages)


def test_writer_close_gives_up_loudly_after_deadline(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(db, SECRET)

    def broken(events: list[AuditEvent]) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(log, "append", broken)
    writer = AuditWriter(log)
    writer.start()
    writer.submit(event(1))
    with pytest.raises(TimeoutError):
        writer.flush(timeout=0.2)
    with caplog.at_level(logging.ERROR, logger="aigc.audit"):
        writer.close(timeout=0.2)
    assert any("1 record(s) not written" in r.getMessage() for r in caplog.records)


def test_usage_aggregates_and_isolates_tenants(db: Database) -> None:
    log = AuditLog(db, SECRET)
    day2 = DAY1 + timedelta(days=1)
    log.append(
        [
            event(1, latency_ms=10.0),
            event(2, latency_ms=20.0, model="m2"),
            event(3, ts=day2, key_id="k2", prompt_tokens=100, completion_tokens=50),
            event(4, tenant_id="t2", prompt_tokens=1000, completion_tokens=1000),
        ]
    )
    totals = usage(db, "t1", None, None, [])
    assert totals == [
        {
            "requests": 3,
            "prompt_tokens": 120,
            "completion_tokens": 60,
            "total_tokens": 180,
            "latency_ms": pytest.approx((10.0 + 20.0 + 12.5) / 3, abs=1e-3),
        }
    ]
    by_day = usage(db, "t1", None, None, ["day"])
    assert [(r["day"], r["requests"], r["total_tokens"]) for r in by_day] == [
        ("2025-03-01", 2, 30),
        ("2025-03-02", 1, 150),
    ]
    by_model = usage(db, "t1", "2025-03-01", "2025-03-01", ["day", "key_id", "model"])
    assert [(r["key_id"], r["model"], r["requests"]) for r in by_model] == [
        ("k1", "m1", 1),
        ("k1", "m2", 1),
    ]
    assert usage(db, "t1", "2025-03-02", None, ["key_id"])[0]["key_id"] == "k2"
    assert usage(db, "t2", None, None, ["key_id"]) == [
        {
            "key_id": "k1",
            "requests": 1,
            "prompt_tokens": 1000,
            "completion_tokens": 1000,
            "total_tokens": 2000,
            "latency_ms": 12.5,
        }
    ]
    assert usage(db, "nobody", None, None, ["day"]) == []
    assert tokens_used_on(db, "t1", "2025-03-01") == 30
    assert tokens_used_on(db, "t1", day2.date()) == 150
    assert tokens_used_on(db, "t2", "2025-03-02") == 0
    with pytest.raises(ValueError):
        usage(db, "t1", None, None, ["content"])
    with pytest.raises(ValueError):
        usage(db, "t1", "yesterday", None, [])


def test_image_counts_are_signed_and_rows_without_images_keep_their_old_signature(
    db: Database, log: AuditLog
) -> None:
    import hmac
    import json

    log.append([event(11, images=3), event(12)])
    assert log.verify().ok
    with db.session() as session:
        row = session.execute(text("SELECT * FROM audit_records WHERE seq = 12")).mappings().one()
    # a row with no images is signed as every row was before the count existed: the v1 array
    v1 = [
        row[name]
        for name in (
            "seq",
            "request_id",
            "ts",
            "day",
            "tenant_id",
            "key_id",
            "user_id",
            "method",
            "endpoint",
            "model",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
            "guard",
            "prev_hash",
        )
    ]
    message = json.dumps(["v1", *v1], separators=(",", ":"), ensure_ascii=False).encode()
    assert row["hash"] == hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    sql(db, "UPDATE audit_records SET images = 1 WHERE seq = 11")
    sql(db, "UPDATE audit_records SET images = 2 WHERE seq = 12")
    assert log.verify().problems == ["row 11 was edited", "row 12 was edited"]
