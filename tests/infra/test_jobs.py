"""Jobs: handlers, progress, cancel, tenant isolation, crash resume, one run per job.

Storage tests run on SQLite and PostgreSQL (the ``db_url`` fixture); the last test drives the
HTTP routes of a live server.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text, update

from aigc.access import Principal
from aigc.errors import InvalidRequest, NotFound, PermissionDenied
from aigc.infra import jobs
from aigc.infra.db import Database
from aigc.infra.jobs import JobCancelled, JobContext
from aigc.infra.schema import Job, new_id, utcnow
from tests.e2e.server import Org, Server
from tests.infra.jobs_support import A, eventually, job, submit, until, wait_for

A_VIEWER = Principal(tenant_id="t_a", role="viewer")
B = Principal(tenant_id="t_b", role="admin")

pytestmark = pytest.mark.usefixtures("handlers")


@pytest.fixture
def db(tenant_db: Database) -> Database:
    return tenant_db


# --- running, progress, results ------------------------------------------------------------


def test_handler_runs_to_success_with_progress_and_result(db: Database, runners: Any) -> None:
    seen: list[JobContext] = []

    def count(ctx: JobContext) -> dict[str, Any]:
        seen.append(ctx)
        assert ctx.checkpoint_dir.is_dir()
        for i in range(1, 4):
            ctx.progress(i / 4, f"step {i}")
        return {"total": ctx.params["n"] * 2}

    jobs.register_handler("test.count", count)
    job_id = submit(db, "test.count", {"n": 21})
    assert job(db, job_id).status == "queued"
    runners().start()

    done = wait_for(db, job_id, "succeeded")
    assert done.result == {"total": 42}
    assert done.progress == 1.0
    assert done.message == "step 3"
    assert done.attempts == 1 and done.error is None
    assert done.started_at is not None and done.finished_at is not None
    assert seen[0].attempt == 1 and seen[0].tenant_id == "t_a"
    # checkpoints go with the finished job, just after its final state is written (by the
    # runner's thread: the state can be read before they are gone)
    eventually(lambda: not seen[0].checkpoint_dir.exists())
    view = jobs.job_view(done)
    assert view["object"] == "job" and view["status"] == "succeeded"
    assert isinstance(view["created_at"], int) and isinstance(view["finished_at"], int)


def test_progress_is_persisted_while_running(db: Database, runners: Any) -> None:
    halfway, release = threading.Event(), threading.Event()

    def slow(ctx: JobContext) -> None:
        ctx.progress(0.5, "half")
        halfway.set()
        until(release)

    jobs.register_handler("test.slow", slow)
    job_id = submit(db, "test.slow")
    runners().start()
    until(halfway)
    running = job(db, job_id)
    assert (running.status, running.progress, running.message) == ("running", 0.5, "half")
    assert running.heartbeat_at is not None
    release.set()
    assert wait_for(db, job_id, "succeeded").result is None


def test_failing_handler_records_type_and_message(db: Database, runners: Any) -> None:
    def broken(ctx: JobContext) -> None:
        raise ValueError("the training data has no rows")

    jobs.register_handler("test.broken", broken)
    job_id = submit(db, "test.broken")
    runners().start()
    failed = wait_for(db, job_id, "failed")
    assert failed.error == "ValueError: the training data has no rows"
    assert "Traceback" not in failed.error


def test_submit_checks_kind_and_role(db: Database) -> None:
    jobs.register_handler("test.noop", lambda ctx: None)
    with db.session() as s, pytest.raises(InvalidRequest) as err:
        jobs.submit(s, A, "no.such.kind", {})
    assert err.value.param == "kind"
    with db.session() as s, pytest.raises(PermissionDenied):
        jobs.submit(s, A_VIEWER, "test.noop", {})
    with db.session() as s, pytest.raises(InvalidRequest) as err:
        jobs.list_jobs(s, A, status="bogus")
    assert err.value.param == "status"


# --- cancel --------------------------------------------------------------------------------


def test_cancel_queued_job_never_runs(db: Database, runners: Any) -> None:
    ran = threading.Event()
    jobs.register_handler("test.mark", lambda ctx: ran.set())
    job_id = submit(db, "test.mark")
    with db.session() as s:
        assert jobs.cancel_job(s, A, job_id).status == "cancelled"
    runner = runners()
    assert runner.run_once() is False
    assert not ran.is_set()
    cancelled = job(db, job_id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None


def test_cancel_running_job_stops_at_next_progress(db: Database, runners: Any) -> None:
    started, stopped = threading.Event(), threading.Event()

    def forever(ctx: JobContext) -> None:
        started.set()
        try:
            while True:
                ctx.progress(0.1, "working")
                time.sleep(0.01)
        except JobCancelled:
            stopped.set()
            raise

    jobs.register_handler("test.forever", forever)
    job_id = submit(db, "test.forever")
    runners().start()
    until(started)
    with db.session() as s:
        flagged = jobs.cancel_job(s, A, job_id)
    assert flagged.status in ("running", "cancelled") and flagged.cancel_requested
    cancelled = wait_for(db, job_id, "cancelled")
    assert stopped.is_set() and cancelled.finished_at is not None


def test_a_handler_that_fails_after_a_cancel_was_asked_ends_cancelled(
    db: Database, runners: Any
) -> None:
    """What a job works on can go away under it (a knowledge base deleted mid-ingestion): the
    handler's next write fails before its next progress call, and the job was stopped, not
    broken. Its error is the reason the cancel gave."""
    started, flagged = threading.Event(), threading.Event()

    def writes(ctx: JobContext) -> None:
        started.set()
        until(flagged)
        raise RuntimeError("FOREIGN KEY constraint failed")

    jobs.register_handler("test.writes", writes)
    job_id = submit(db, "test.writes")
    runners().start()
    until(started)
    with db.session() as s:
        assert jobs.cancel_pending(s, [job(db, job_id)], "Its knowledge base was deleted") == 1
    flagged.set()
    ended = wait_for(db, job_id, "cancelled")
    assert ended.error == "Its knowledge base was deleted"


def test_a_database_error_is_described_without_its_statement_or_values() -> None:
    """A job's error is shown to every member who may see the job: SQLAlchemy's message holds
    the SQL and the row it wrote (a document's text)."""
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER NOT NULL)"))
        with pytest.raises(Exception) as caught:
            conn.execute(text("INSERT INTO t (x) VALUES (:secret)"), {"secret": None})
    described = jobs._describe(caught.value)
    assert described == "IntegrityError: NOT NULL constraint failed: t.x"
    assert "INSERT" not in described and "secret" not in described


# --- tenants -------------------------------------------------------------------------------


def test_other_tenant_sees_nothing(db: Database) -> None:
    jobs.register_handler("test.noop", lambda ctx: None)
    job_id = submit(db, "test.noop")
    with db.session() as s:
        with pytest.raises(NotFound):
            jobs.get_job(s, B, job_id)
        with pytest.raises(NotFound):
            jobs.cancel_job(s, B, job_id)
        assert jobs.list_jobs(s, B) == []
        assert [j.id for j in jobs.list_jobs(s, A_VIEWER)] == [job_id]  # viewers may look
    assert job(db, job_id).status == "queued"


# --- restarts and crashes ------------------------------------------------------------------


def make_dead(db: Database, job_id: str, attempts: int) -> None:
    """What a crashed process leaves behind: running, with a heartbeat long gone."""
    with db.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status="running",
                worker="dead-host:1/abc",
                attempts=attempts,
                started_at=utcnow() - timedelta(minutes=10),
                heartbeat_at=utcnow() - timedelta(minutes=5),
            )
        )


def test_crashed_job_is_resumed_from_its_checkpoint(
    db: Database, runners: Any, tmp_path: Path
) -> None:
    attempts: list[int] = []

    def resumable(ctx: JobContext) -> dict[str, Any]:
        attempts.append(ctx.attempt)
        mark = ctx.checkpoint_dir / "step"
        start = int(mark.read_text()) if mark.exists() else 0
        return {"resumed_from": start}

    jobs.register_handler("test.resume", resumable)
    job_id = submit(db, "test.resume")
    make_dead(db, job_id, attempts=1)
    checkpoint = tmp_path / "data" / "jobs" / job_id
    checkpoint.mkdir(parents=True)
    (checkpoint / "step").write_text("7")

    runners("w2", stale_after_s=60).start()
    done = wait_for(db, job_id, "succeeded")
    assert attempts == [2]
    assert done.attempts == 2
    assert done.result == {"resumed_from": 7}


def test_live_job_is_not_taken_as_dead(db: Database, runners: Any) -> None:
    jobs.register_handler("test.noop", lambda ctx: None)
    job_id = submit(db, "test.noop")
    make_dead(db, job_id, attempts=1)
    with db.session() as s:  # ...but it beat a moment ago
        s.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow()))
    assert runners(stale_after_s=60).requeue_stale() == 0
    assert job(db, job_id).status == "running"


def test_job_fails_after_three_crashes(db: Database, runners: Any) -> None:
    jobs.register_handler("test.noop", lambda ctx: None)
    job_id = submit(db, "test.noop")
    make_dead(db, job_id, attempts=jobs.MAX_ATTEMPTS)
    assert runners().requeue_stale() == 1
    failed = job(db, job_id)
    assert failed.status == "failed"
    assert failed.error is not None and "Gave up after 3 attempts" in failed.error


def test_stop_puts_running_job_back_and_next_start_resumes(db: Database, runners: Any) -> None:
    started = threading.Event()
    runs: list[int] = []

    def long(ctx: JobContext) -> dict[str, Any]:
        runs.append(ctx.attempt)
        if len(runs) == 1:
            started.set()
            while True:
                ctx.progress(0.3, "first run")
                time.sleep(0.01)
        return {"runs": len(runs)}

    jobs.register_handler("test.long", long)
    job_id = submit(db, "test.long")
    first = runners("w1")
    first.start()
    until(started)
    assert first.stop(10)
    back = job(db, job_id)
    assert back.status == "queued" and back.worker is None
    assert back.attempts == 1  # a clean shutdown is not a failed attempt

    runners("w2").start()
    assert wait_for(db, job_id, "succeeded").result == {"runs": 2}


def test_runner_that_lost_its_job_cannot_write(db: Database, runners: Any) -> None:
    """A runner wrongly thought dead: its job is re-queued and finished elsewhere; it backs off."""
    started, release = threading.Event(), threading.Event()
    finishes: list[int] = []

    def handler(ctx: JobContext) -> dict[str, Any]:
        if ctx.attempt == 1:
            started.set()
            until(release)
            ctx.progress(0.9)  # notices it lost the job, raises JobCancelled
        finishes.append(ctx.attempt)
        return {"attempt": ctx.attempt}

    jobs.register_handler("test.fenced", handler)
    job_id = submit(db, "test.fenced")
    slow = runners("slow", stale_after_s=60, slots=1)  # busy: it cannot take the job back
    slow.heartbeat_s = 3600  # it never beats: it looks dead
    slow.start()
    until(started)
    with db.session() as s:
        s.execute(
            update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(hours=1))
        )
    other = runners("other", stale_after_s=60)
    assert other.requeue_stale() == 1
    assert other.run_once()
    assert job(db, job_id).result == {"attempt": 2}
    release.set()
    time.sleep(0.3)
    final = job(db, job_id)
    assert (final.status, final.result, finishes) == ("succeeded", {"attempt": 2}, [2])


def test_two_runners_never_run_the_same_job(db: Database, runners: Any) -> None:
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def once(ctx: JobContext) -> None:
        with lock:
            runs[ctx.job_id] += 1
        time.sleep(0.005)

    jobs.register_handler("test.once", once)
    ids = [submit(db, "test.once", {"i": i}) for i in range(20)]
    first, second = runners("r1", poll_interval_s=0.001), runners("r2", poll_interval_s=0.001)
    first.start()
    second.start()
    for job_id in ids:
        wait_for(db, job_id, "succeeded", timeout=60)
    assert sorted(runs) == sorted(ids)
    assert set(runs.values()) == {1}


# --- HTTP ----------------------------------------------------------------------------------


def test_jobs_api_is_tenant_scoped(server: Server, org_a: Org, org_b: Org) -> None:
    """A job of org A (written straight into the server's database: no route submits yet)."""
    job_id = new_id("job_")
    engine = create_engine(f"sqlite:///{server.data_dir / 'aigc.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (id, tenant_id, kind, status, params, progress, message, "
                "cancel_requested, attempts, created_at) VALUES (:id, :tenant, 'test.none', "
                "'queued', '{}', 0, '', 0, 0, :now)"
            ),
            {"id": job_id, "tenant": org_a.id, "now": utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")},
        )
    engine.dispose()

    mine = server.api("GET", f"/api/jobs/{job_id}", key=org_a.member_key)
    assert mine.status_code == 200, mine.text
    assert mine.json()["object"] == "job" and mine.json()["status"] == "queued"
    listed = server.api("GET", "/api/jobs", key=org_a.member_key).json()
    assert job_id in [j["id"] for j in listed["data"]]

    for method, path in (("GET", f"/api/jobs/{job_id}"), ("POST", f"/api/jobs/{job_id}/cancel")):
        theirs = server.api(method, path, key=org_b.admin_key)
        assert theirs.status_code == 404, theirs.text
        assert theirs.json()["error"]["code"] == "not_found"
    others = server.api("GET", "/api/jobs", key=org_b.admin_key).json()
    assert job_id not in [j["id"] for j in others["data"]]

    bad = server.api("GET", "/api/jobs?status=bogus", key=org_a.member_key)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "status"
    cancelled = server.api("POST", f"/api/jobs/{job_id}/cancel", key=org_a.member_key)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_a_job_claimed_as_the_runner_stops_waits_for_the_next_start(
    db: Database, runners: Any
) -> None:
    """A slot that stops gives its job back to the queue; the runner's loop could claim it
    again in the moment between its check of the stop and its claim, and run it a second time
    during the shutdown (a full run once found the stopped job "succeeded"). A job claimed
    once stopping has begun goes back to the queue unstarted."""
    jobs.register_handler("test.noop", lambda ctx: {"ran": True})
    job_id = submit(db, "test.noop")
    runner = runners("w1")
    claim = runner._claim_open

    def claim_as_stop_begins() -> Any:
        claimed = claim()
        runner._stop.set()  # stop() called between the loop's check and its claim
        return claimed

    runner._claim_open = claim_as_stop_begins  # type: ignore[method-assign]
    assert runner.fill_slots() == 0
    back = job(db, job_id)
    assert back.status == "queued" and back.worker is None
