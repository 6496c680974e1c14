"""Job slots: several jobs at once, a slot kept from long jobs, each job stopped on its own,
jobs waiting for another job, claims that stay single under concurrency.

Handlers block on events, so what runs at the same time is decided by the test, not by timing.
Storage tests run on SQLite and PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from aigc.infra import jobs
from aigc.infra.db import Database
from aigc.infra.jobs import JobBlocked, JobCancelled, JobContext
from aigc.infra.schema import Job, utcnow
from tests.infra.jobs_support import A, eventually, job, submit, until, wait_for

pytestmark = pytest.mark.usefixtures("handlers")


class Gates:
    """A handler that reports each job as started and blocks until the test releases it."""

    def __init__(self) -> None:
        self.started: dict[str, threading.Event] = {}
        self.release: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def _pair(self, name: str) -> tuple[threading.Event, threading.Event]:
        with self.lock:
            pair = (
                self.started.setdefault(name, threading.Event()),
                self.release.setdefault(name, threading.Event()),
            )
        return pair

    def handler(self, ctx: JobContext) -> dict[str, Any]:
        name = str(ctx.params["name"])
        started, release = self._pair(name)
        started.set()
        while not release.wait(0.01):
            if ctx.should_stop:  # a cancel (seen by the heartbeat) or the runner stopping
                raise JobCancelled(ctx.job_id)
        return {"name": name}

    def wait_started(self, name: str) -> None:
        until(self._pair(name)[0])

    def has_started(self, name: str) -> bool:
        return self._pair(name)[0].is_set()

    def let_go(self, name: str) -> None:
        self._pair(name)[1].set()


@pytest.fixture
def db(tenant_db: Database) -> Database:
    return tenant_db


def test_two_slots_run_two_jobs_at_once_and_the_third_waits(db: Database, runners: Any) -> None:
    gates = Gates()
    jobs.register_handler("test.gate", gates.handler)
    ids = {name: submit(db, "test.gate", {"name": name}) for name in ("one", "two", "three")}
    runner = runners(slots=2)
    runner.start()
    gates.wait_started("one")
    gates.wait_started("two")  # both at once: "one" has not been let go
    assert sorted(runner.running()) == sorted([ids["one"], ids["two"]])
    assert runner.fill_slots() == 0  # no free slot
    assert job(db, ids["three"]).status == "queued" and not gates.has_started("three")

    gates.let_go("one")
    assert wait_for(db, ids["one"], "succeeded").result == {"name": "one"}
    gates.wait_started("three")  # the freed slot takes the next job
    assert job(db, ids["two"]).status == "running"
    gates.let_go("two")
    gates.let_go("three")
    for name in ("two", "three"):
        assert wait_for(db, ids[name], "succeeded").result == {"name": name}


def test_long_jobs_leave_a_slot_to_short_ones(db: Database, runners: Any) -> None:
    """gpt-pydoc first, then the image defaults: the short jobs run beside the long one, and
    a second long job does not take the last slot."""
    gates = Gates()
    jobs.register_handler("test.long", gates.handler, long=True)
    jobs.register_handler("test.short", gates.handler)
    first = submit(db, "test.long", {"name": "gpt-1"})
    second = submit(db, "test.long", {"name": "gpt-2"})
    shorts = [submit(db, "test.short", {"name": f"img-{i}"}) for i in range(3)]
    runner = runners(slots=2)
    runner.start()
    gates.wait_started("gpt-1")
    for i, short in enumerate(shorts):  # one after another, in the slot kept for them
        gates.wait_started(f"img-{i}")
        gates.let_go(f"img-{i}")
        wait_for(db, short, "succeeded")
    assert runner.fill_slots() == 0  # a slot is free, but only for short jobs
    assert job(db, second).status == "queued" and not gates.has_started("gpt-2")
    assert job(db, first).status == "running"

    gates.let_go("gpt-1")
    wait_for(db, first, "succeeded")
    gates.wait_started("gpt-2")
    gates.let_go("gpt-2")
    wait_for(db, second, "succeeded")


def test_a_single_slot_runs_long_jobs_too(db: Database, runners: Any) -> None:
    jobs.register_handler("test.long", lambda ctx: {"ran": True}, long=True)
    job_id = submit(db, "test.long")
    runners(slots=1).start()
    assert wait_for(db, job_id, "succeeded").result == {"ran": True}


def test_cancelling_one_running_job_leaves_the_other_running(db: Database, runners: Any) -> None:
    gates = Gates()
    jobs.register_handler("test.gate", gates.handler)
    keep = submit(db, "test.gate", {"name": "keep"})
    drop = submit(db, "test.gate", {"name": "drop"})
    runners(slots=2).start()
    gates.wait_started("keep")
    gates.wait_started("drop")
    with db.session() as s:
        jobs.cancel_job(s, A, drop)
    cancelled = wait_for(db, drop, "cancelled")
    assert cancelled.finished_at is not None
    still = job(db, keep)
    assert still.status == "running" and not still.cancel_requested
    gates.let_go("keep")
    assert wait_for(db, keep, "succeeded").result == {"name": "keep"}


def test_stop_returns_every_running_job_to_the_queue(db: Database, runners: Any) -> None:
    gates = Gates()
    runs: Counter[str] = Counter()

    def handler(ctx: JobContext) -> dict[str, Any]:
        name = str(ctx.params["name"])
        runs[name] += 1
        if runs[name] == 1:
            return gates.handler(ctx)  # the first run blocks until the runner stops
        return {"name": name, "run": runs[name]}

    jobs.register_handler("test.gate", handler)
    ids = [submit(db, "test.gate", {"name": name}) for name in ("a", "b")]
    first = runners("w1", slots=2)
    first.start()
    gates.wait_started("a")
    gates.wait_started("b")
    assert first.stop(10)
    for job_id in ids:
        back = job(db, job_id)
        assert back.status == "queued" and back.worker is None and back.attempts == 1

    runners("w2", slots=2).start()
    results = [wait_for(db, job_id, "succeeded").result for job_id in ids]
    assert results == [{"name": "a", "run": 2}, {"name": "b", "run": 2}]


def test_a_job_lost_to_another_runner_does_not_disturb_its_neighbour(
    db: Database, runners: Any
) -> None:
    """One of two running jobs looks dead (stale heartbeat) and is taken over elsewhere; the
    first runner drops only that run, and its other job goes on to the end."""
    gates = Gates()
    lost_noticed = threading.Event()

    def handler(ctx: JobContext) -> dict[str, Any]:
        if ctx.params["name"] == "taken" and ctx.attempt == 2:
            return {"by": "other"}
        result = gates.handler(ctx)
        try:
            ctx.progress(0.9)  # writes a beat: a run that lost its job finds out here
        except JobCancelled:
            lost_noticed.set()
            raise
        return result

    jobs.register_handler("test.gate", handler)
    taken = submit(db, "test.gate", {"name": "taken"})
    neighbour = submit(db, "test.gate", {"name": "neighbour"})
    slow = runners("slow", slots=2, stale_after_s=60)
    slow.heartbeat_s = 3600  # it never beats on its own: the test decides what looks dead
    slow.start()
    gates.wait_started("taken")
    gates.wait_started("neighbour")
    with db.session() as s:
        s.execute(
            update(Job).where(Job.id == taken).values(heartbeat_at=utcnow() - timedelta(hours=1))
        )
    other = runners("other", stale_after_s=60)
    assert other.requeue_stale() == 1
    assert other.run_once()
    assert job(db, taken).result == {"by": "other"}
    gates.let_go("taken")
    until(lost_noticed)  # its progress call found the claim gone
    eventually(lambda: taken not in slow.running())
    assert job(db, neighbour).status == "running"
    gates.let_go("neighbour")
    assert wait_for(db, neighbour, "succeeded").result == {"name": "neighbour"}
    final = job(db, taken)  # the lost run wrote nothing
    assert (final.status, final.result, final.attempts) == ("succeeded", {"by": "other"}, 2)


def test_a_blocked_job_waits_in_the_queue_until_its_blocker_ends(
    db: Database, runners: Any
) -> None:
    """text2image needs its CLIP model: it goes back to the queue, holds no slot, and runs
    once the CLIP job has ended."""
    gates = Gates()
    calls: list[str] = []

    def needs_clip(ctx: JobContext) -> dict[str, Any]:
        clip_job = str(ctx.params["after"])
        calls.append(job(db, clip_job).status)
        if job(db, clip_job).status != "succeeded":
            raise JobBlocked(clip_job, "waiting for clip-x to finish training")
        return {"built_on": clip_job}

    jobs.register_handler("test.gate", gates.handler)
    jobs.register_handler("test.t2i", needs_clip)
    clip = submit(db, "test.gate", {"name": "clip"})
    t2i = submit(db, "test.t2i", {"after": clip})
    runner = runners(slots=3)
    runner.start()
    gates.wait_started("clip")
    eventually(lambda: job(db, t2i).after_job is not None)  # tried once, then parked
    parked = job(db, t2i)
    assert parked.status == "queued" and parked.after_job == clip and parked.worker is None
    assert parked.message == "waiting for clip-x to finish training" and parked.attempts == 1
    assert runner.fill_slots() == 0  # two slots free, but the only queued job waits
    assert runner.running() == [clip]

    gates.let_go("clip")
    done = wait_for(db, t2i, "succeeded")
    assert done.result == {"built_on": clip} and done.attempts == 1
    assert calls == ["running", "succeeded"]


def test_a_job_blocked_on_a_job_that_cannot_end_it_fails(db: Database, runners: Any) -> None:
    jobs.register_handler("test.noop", lambda ctx: None)
    finished = submit(db, "test.noop")
    assert runners().run_once()

    def blocked(ctx: JobContext) -> None:
        raise JobBlocked(str(ctx.params["on"]))

    jobs.register_handler("test.blocked", blocked)
    on_finished = submit(db, "test.blocked", {"on": finished})
    on_missing = submit(db, "test.blocked", {"on": "job_missing"})
    runner = runners()
    assert runner.run_once() and runner.run_once()
    failed = wait_for(db, on_finished, "failed")
    assert failed.error == f"It waits for job {finished}, which is succeeded"
    missing = wait_for(db, on_missing, "failed")
    assert missing.error == "It waits for job job_missing, which does not exist"


def test_each_job_thread_gets_its_cpu_thread_budget(db: Database, runners: Any) -> None:
    budgets: list[tuple[str, int]] = []
    in_handler: list[str] = []

    def limit(threads: int) -> None:
        budgets.append((threading.current_thread().name, threads))

    def handler(ctx: JobContext) -> None:
        in_handler.append(threading.current_thread().name)

    jobs.register_handler("test.noop", handler)
    ids = [submit(db, "test.noop") for _ in range(3)]
    runners(slots=2, threads_per_job=3, limit_threads=limit).start()
    for job_id in ids:
        wait_for(db, job_id, "succeeded")
    assert sorted(budgets) == sorted((name, 3) for name in in_handler)
    assert sorted(in_handler) == sorted(f"job:{job_id}" for job_id in ids)


def test_many_slots_of_many_runners_never_run_the_same_job(db: Database, runners: Any) -> None:
    runs: Counter[str] = Counter()
    lock = threading.Lock()
    most = [0]
    now = [0]

    def once(ctx: JobContext) -> None:
        with lock:
            runs[ctx.job_id] += 1
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.005)
        with lock:
            now[0] -= 1

    jobs.register_handler("test.once", once)
    ids = [submit(db, "test.once", {"i": i}) for i in range(30)]
    made = [runners(f"r{i}", slots=3, poll_interval_s=0.001) for i in range(3)]
    for runner in made:
        runner.start()
    for job_id in ids:
        wait_for(db, job_id, "succeeded", timeout=60)
    assert sorted(runs) == sorted(ids)
    assert set(runs.values()) == {1}
    assert most[0] <= 9  # never more at once than the slots of all runners


def test_runner_rejects_no_slots(db: Database, runners: Any) -> None:
    with pytest.raises(ValueError):
        runners(slots=0)
    with pytest.raises(ValueError):
        runners(threads_per_job=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice per thread: Linux only")
def test_long_jobs_run_at_a_lower_cpu_priority(db: Database, runners: Any) -> None:
    """Where CPUs are short, the OS runs requests and short jobs before a long training."""
    seen: dict[str, int] = {}

    def record(ctx: JobContext) -> None:
        seen[str(ctx.params["name"])] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    jobs.register_handler("test.long", record, long=True)
    jobs.register_handler("test.short", record)
    ids = [submit(db, "test.long", {"name": "long"}), submit(db, "test.short", {"name": "short"})]
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    runners(slots=2).start()
    for job_id in ids:
        wait_for(db, job_id, "succeeded")
    assert seen == {"long": min(19, base + jobs.LONG_JOB_NICE), "short": base}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
