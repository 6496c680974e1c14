"""Long work (training, ingestion) as jobs whose state lives in the database.

A feature registers a handler for its kind; ``submit`` queues a job; a ``JobRunner`` in each
server process claims queued jobs and runs up to ``slots`` of them at once, each in its own thread
(so a 20-second image training does not wait half an hour behind a GPT). Handlers of kinds
registered as ``long`` never take the last free slot: one is always left for the short work
(ingestion, small models). Because everything a job is (status, progress, attempts, heartbeat)
is a row, a job survives restarts:

* a clean shutdown asks the running handler to stop and puts its job back in the queue;
* a crash leaves the job ``running`` with a heartbeat that stops moving; any runner notices the
  stale heartbeat, re-queues it with ``attempts + 1`` and the handler resumes (it can keep
  checkpoints in ``ctx.checkpoint_dir``); after ``MAX_ATTEMPTS`` the job fails instead. With a
  blob store, ``ctx.save_checkpoints()`` publishes that folder under ``jobs/<job id>/`` and a
  run on another instance starts by fetching it, so a resumed job finds its checkpoint wherever
  it runs.

Claims are conditional updates (``WHERE status = 'queued'``, then check the row count), so two
runners, or two slots of one, in one process or many, never take the same job. Each claim
writes a fresh token into ``worker``, and every later write of that run requires it: a runner
that lost its job (thought dead, re-queued, taken by another) can no longer touch the row.

Lookups for callers filter by tenant here, in the data-access function: another tenant's job is
"not found", exactly as if it did not exist.

A handler that cannot run before another job ends (a text-to-image model needs its CLIP model)
raises ``JobBlocked``: the job goes back to the queue with ``after_job`` set and is not claimed
again until that job has ended, so it holds no slot while it waits.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, aliased

from aigc.access import Principal, require_role
from aigc.errors import NotFound, PermissionDenied, refused, refused_value
from aigc.infra import untrusted
from aigc.infra.db import Database, rowcount
from aigc.infra.schema import Job, new_id, unix_time, utcnow
from aigc.infra.storage import BlobStore

log = logging.getLogger("aigc.jobs")

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATUSES: tuple[str, ...] = get_args(Status)
FINISHED = ("succeeded", "failed", "cancelled")
PENDING = ("queued", "running")  # not ended yet: a job parked behind one of these waits
MAX_ATTEMPTS = 3
PROGRESS_INTERVAL_S = 0.5  # at most ~2 progress writes a second per job
_MAX_TEXT = 2000  # error and message columns hold text for people, not dumps


class JobCancelled(Exception):
    """Raised by ``JobContext.progress`` when the handler must stop (cancel or shutdown)."""


class JobBlocked(Exception):
    """Raised by a handler that must wait for job ``blocker_id`` to end: its job goes back to
    the queue (same attempt) and is claimed again once that job has ended."""

    def __init__(self, blocker_id: str, reason: str = "") -> None:
        self.blocker_id = blocker_id
        self.reason = reason or f"waiting for job {blocker_id}"
        super().__init__(self.reason)


Handler = Callable[["JobContext"], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}
# Kinds that run for minutes to hours (a GPT's training): they never take a runner's last slot.
LONG_KINDS: set[str] = set()
# How much lower a long job's thread runs in the OS scheduler (nice, Linux: per thread): where
# CPUs are short, requests and short jobs come first; on idle cores it costs the long job nothing.
LONG_JOB_NICE = 10
# Repairs a feature owns over its own rows (documents left waiting without a job...): each
# runner calls every sweeper at start and then every ``sweep_interval_s``.
Sweeper = Callable[[Database], Any]
SWEEPERS: dict[str, Sweeper] = {}


# Who may see and cancel a kind's jobs beyond the tenant: ``fn(session, principal, jobs,
# need)`` gives the ids of those ``jobs`` whose resource the caller holds ``need`` on ("read"
# to see a job, "write" to cancel it). An ingestion job shows its knowledge base's file names
# in its messages: a member who may not read that base must not see or stop the job. A kind
# without one is the tenant's: every member sees its jobs.
JobAccess = Callable[[Session, Principal, list[Job], str], set[str]]
ACCESS: dict[str, JobAccess] = {}


def register_handler(
    kind: str, fn: Handler, *, long: bool = False, access: JobAccess | None = None
) -> Handler:
    """Make ``kind`` submittable; ``fn(ctx)`` does the work and returns the job's result.

    ``long``: its jobs run for minutes to hours, so a runner keeps a slot free of them.
    ``access``: who may see and cancel its jobs (``JobAccess``), when not every member.
    """
    if not kind or len(kind) > 40:
        raise ValueError("A job kind is 1 to 40 characters")
    HANDLERS[kind] = fn
    if long:
        LONG_KINDS.add(kind)
    else:
        LONG_KINDS.discard(kind)
    if access is not None:
        ACCESS[kind] = access
    else:
        ACCESS.pop(kind, None)
    return fn


def register_sweeper(name: str, fn: Sweeper) -> Sweeper:
    """Have every runner call ``fn(db)`` at start and periodically (idempotent repairs)."""
    SWEEPERS[name] = fn
    return fn


# --- what a handler sees -------------------------------------------------------------------


class JobContext:
    """A running job as its handler sees it: identity, parameters, progress and stop signals."""

    def __init__(
        self,
        db: Database,
        job: Job,
        data_dir: Path,
        claim: str,
        stopping: threading.Event,
        store: BlobStore | None = None,
    ) -> None:
        self.job_id = job.id
        self.tenant_id = job.tenant_id
        self.params: dict[str, Any] = dict(job.params or {})
        self.attempt = job.attempts
        self.db = db  # for handlers that record what they produce (e.g. a model's status)
        self.data_dir = Path(data_dir)
        self.checkpoint_dir = Path(data_dir) / "jobs" / job.id
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.store = store  # where shared files live (uploads, models), None in bare tests
        self.checkpoint_key = f"jobs/{job.id}/"
        if self._checkpoints_elsewhere() and not any(self.checkpoint_dir.iterdir()):
            assert store is not None
            try:  # a run resumed on this instance: fetch what the last one saved
                store.download_prefix(self.checkpoint_key, self.checkpoint_dir)
            except Exception:  # without them the job starts over, which is still correct
                log.warning("job %s: checkpoints could not be fetched", job.id, exc_info=True)
        self._db = db
        self._claim = claim
        self._stopping = stopping
        self._cancelled = threading.Event()
        self._lost = threading.Event()
        self._lock = threading.Lock()
        self._fraction = job.progress
        self._message = job.message
        self._said: dict[str, Any] = {
            "message_code": job.message_code,
            "message_values": job.message_values,
        }
        # What watchers see while it runs (a loss curve); a resumed run finds its last one.
        self._live: dict[str, Any] | None = job.result if isinstance(job.result, dict) else None
        self._last_write = 0.0

    def _checkpoints_elsewhere(self) -> bool:
        """Whether the store keeps checkpoints somewhere other than ``checkpoint_dir`` (with
        the default directory store rooted at data_dir they are the same folder)."""
        if self.store is None:
            return False
        own = self.store.local_path(self.checkpoint_key)
        return own is None or own.resolve() != self.checkpoint_dir.resolve()

    def save_checkpoints(self) -> None:
        """Publish ``checkpoint_dir`` to the store: called after each checkpoint is written."""
        if self._checkpoints_elsewhere():
            assert self.store is not None
            self.store.upload_dir(self.checkpoint_key, self.checkpoint_dir)

    def drop_checkpoints(self) -> None:
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        if self._checkpoints_elsewhere():
            assert self.store is not None
            try:
                self.store.delete_prefix(self.checkpoint_key)
            except Exception:  # a leftover costs storage, not correctness
                log.warning("job %s: checkpoints not removed from the store", self.job_id)

    def progress(
        self,
        fraction: float,
        message: str = "",
        code: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        """Report progress (0..1). Raises ``JobCancelled`` when the handler should stop.

        ``message`` is the line in English for API clients; ``code`` and ``values`` (JSON
        numbers and words) name it, so the console can say it in its reader's language (the
        job's ``message_code`` and ``message_values``). Writes are throttled to
        ``PROGRESS_INTERVAL_S`` (the heartbeat persists the latest value in between), except
        ``fraction == 1``, which is always written.
        """
        if math.isnan(fraction) or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress must be between 0 and 1, not {fraction}")
        self._raise_if_stopping()
        said = {"message_code": code, "message_values": values if code else None}
        with self._lock:
            self._fraction, self._message = float(fraction), message[:_MAX_TEXT]
            self._said = said
        if fraction >= 1.0 or time.monotonic() - self._last_write >= PROGRESS_INTERVAL_S:
            self.beat()
        self._raise_if_stopping()

    @property
    def live(self) -> dict[str, Any] | None:
        """The partial result last published (by this run or, when resumed, the one before)."""
        return self._live

    def publish(self, live: dict[str, Any]) -> None:
        """Share partial results (a loss curve, samples) while the job runs.

        They are the job's ``result`` until it ends, written with the next beat; the handler's
        own result is merged over them at the end, and a cancelled or failed job keeps them.
        """
        snapshot = json.loads(json.dumps(live))  # a copy: the handler keeps mutating its own
        with self._lock:
            self._live = snapshot

    @property
    def should_stop(self) -> bool:
        """For handlers that prefer polling to catching ``JobCancelled``."""
        return self._cancelled.is_set() or self._stopping.is_set() or self._lost.is_set()

    def beat(self) -> None:
        """Persist heartbeat and latest progress; learn whether a cancel was requested."""
        with self._lock, self._db.session() as s:
            done = s.execute(
                update(Job)
                .where(Job.id == self.job_id, Job.worker == self._claim, Job.status == "running")
                .values(
                    heartbeat_at=utcnow(),
                    progress=self._fraction,
                    message=self._message,
                    **self._said,
                    **({"result": self._live} if self._live is not None else {}),
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(done) != 1:
                self._lost.set()  # re-queued as dead and possibly taken by another runner
                return
            if s.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
                self._cancelled.set()
            self._last_write = time.monotonic()

    def cancel_requested(self) -> bool:
        """Whether a cancel was asked for, read now (``beat`` learns it only every few
        seconds): a handler that failed after one was stopped, not broken."""
        if not self._cancelled.is_set():
            with self._db.session() as s:
                if s.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
                    self._cancelled.set()
        return self._cancelled.is_set()

    def _raise_if_stopping(self) -> None:
        if self.should_stop:
            raise JobCancelled(self.job_id)


# --- for callers (routes and features): every lookup filtered by tenant --------------------


def submit(
    session: Session, principal: Principal, kind: str, params: dict[str, Any] | None = None
) -> Job:
    require_role(principal, "member")
    if kind not in HANDLERS:
        raise refused_value(
            "literal_error",
            "Unknown job kind '{value}'",
            param="kind",
            value=str(kind)[:40],
            expected=", ".join(sorted(HANDLERS)),
        )
    params = dict(params or {})
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise refused_value(
            "params_not_json",
            "Job parameters must be JSON: {reason}",
            param="params",
            reason=str(exc),
        ) from None
    job = queued_job(principal.tenant_id, kind, params)
    session.add(job)
    session.flush()
    return job


def queued_job(tenant_id: str, kind: str, params: dict[str, Any]) -> Job:
    """A new job row, queued: what ``submit`` adds for a caller, and what the platform's own
    sweepers add for a tenant (documents queued again, vectors to backfill)."""
    return Job(
        id=new_id("job_"),
        tenant_id=tenant_id,
        kind=kind,
        status="queued",
        params=params,
        progress=0.0,
        message="",
        cancel_requested=False,
        attempts=0,
    )


def list_jobs(
    session: Session, principal: Principal, status: str | None = None, kind: str | None = None
) -> list[Job]:
    """The caller's jobs, newest first."""
    require_role(principal, "viewer")
    query = select(Job).where(Job.tenant_id == principal.tenant_id)
    if status is not None:
        if status not in STATUSES:
            raise refused_value(
                "literal_error",
                "Unknown status '{value}'; statuses are {expected}",
                param="status",
                value=str(status)[:40],
                expected=", ".join(STATUSES),
            )
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    found = list(session.scalars(query.order_by(Job.created_at.desc(), Job.id)))
    allowed = _allowed(session, principal, found, "read")
    return [job for job in found if job.id in allowed]


def _allowed(session: Session, principal: Principal, found: list[Job], need: str) -> set[str]:
    """Ids of the tenant's ``found`` jobs the caller holds ``need`` on (``ACCESS``). A tenant
    admin holds every one: a job whose resource is gone (a deleted knowledge base) stays
    theirs to see."""
    if principal.at_least("admin"):
        return {job.id for job in found}
    by_kind: dict[str, list[Job]] = {}
    for job in found:
        by_kind.setdefault(job.kind, []).append(job)
    allowed: set[str] = set()
    for kind, jobs_of_kind in by_kind.items():
        check = ACCESS.get(kind)
        if check is None:
            allowed.update(job.id for job in jobs_of_kind)
        else:
            allowed |= check(session, principal, jobs_of_kind, need)
    return allowed


def get_job(session: Session, principal: Principal, job_id: str) -> Job:
    """The job if it is the caller's tenant's and they may see it; else 404, as if none."""
    require_role(principal, "viewer")
    job = session.get(Job, job_id)
    if (
        job is None
        or job.tenant_id != principal.tenant_id
        or not _allowed(session, principal, [job], "read")
    ):
        raise refused(
            NotFound,
            "job_not_found",
            "No job with id '{id}'",
            param="job_id",
            id=untrusted.field(job_id),
        )
    return job


def cancel_job(session: Session, principal: Principal, job_id: str) -> Job:
    """Queued: cancelled at once. Running: flagged; the handler stops at its next progress call.

    A finished job is returned unchanged. The cancel is one conditional update, so a runner
    claiming or re-queueing the job at the same moment cannot undo it.
    """
    require_role(principal, "member")
    job = get_job(session, principal, job_id)
    if not _allowed(session, principal, [job], "write"):
        raise refused(
            PermissionDenied, "job_not_cancellable", "You may see this job but not cancel it"
        )
    _cancel(session, [job.id])
    session.refresh(job)
    return job


def cancel_pending(session: Session, jobs: list[Job], reason: str) -> int:
    """Cancel these jobs of a resource being deleted, without a caller's checks (the feature
    made its own): queued ones at once, running ones at their next progress call, each with
    ``reason`` as its error. How many were pending."""
    return _cancel(session, [job.id for job in jobs if job.status in PENDING], reason)


def _cancel(session: Session, ids: list[str], reason: str | None = None) -> int:
    """Cancel the pending jobs among ``ids`` in one statement, which reads each one's status
    as it stands then: a queued one ends ``cancelled`` now, a running one is flagged (and ends
    at its next progress call); ``reason``, when given, becomes the error. How many it hit."""
    if not ids:
        return 0
    queued = Job.status == "queued"
    values: dict[str, Any] = {
        "status": case((queued, "cancelled"), else_=Job.status),
        "finished_at": case((queued, utcnow()), else_=Job.finished_at),
        "cancel_requested": True,
    }
    if reason is not None:
        values["error"] = reason[:_MAX_TEXT]
    done = session.execute(
        update(Job)
        .where(Job.id.in_(ids), Job.status.in_(PENDING))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(done)


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "object": "job",
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        # the message's name and values, for a client that says it in another language
        "message_code": job.message_code,
        "message_values": job.message_values,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "created_at": unix_time(job.created_at),
        "started_at": unix_time(job.started_at),
        "finished_at": unix_time(job.finished_at),
    }


# --- the runner ----------------------------------------------------------------------------


class JobRunner:
    """Runs queued jobs of the kinds this process has handlers for, ``slots`` at a time.

    A dispatcher thread recovers dead workers' jobs, runs the sweepers and claims work while a
    slot is free; each claimed job runs in a thread of its own with its own heartbeat, so a
    cancel or a failure touches that job only. ``limit_threads(threads_per_job)`` is called
    first in each job's thread: the caller's way to budget the CPU threads of libraries (torch)
    between jobs running side by side.
    """

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        worker_id: str,
        poll_interval_s: float = 0.5,
        stale_after_s: float = 60,
        sweep_interval_s: float = 60,
        *,
        slots: int = 2,
        threads_per_job: int = 1,
        limit_threads: Callable[[int], None] | None = None,
        store: BlobStore | None = None,
    ) -> None:
        if slots < 1 or threads_per_job < 1:
            raise ValueError("a job runner needs at least one slot and one thread per job")
        self.db = db  # for handlers that record what they produce (e.g. a model's status)
        self.data_dir = Path(data_dir)
        self.store = store
        self.worker_id = worker_id[:80]
        self.poll_interval_s = poll_interval_s
        self.stale_after_s = stale_after_s
        # Several beats per stale window, so one slow write never makes a live job look dead.
        self.heartbeat_s = max(0.05, min(2.0, stale_after_s / 4))
        self.sweep_interval_s = sweep_interval_s
        self.slots = slots
        # Long jobs leave one slot to the rest (with a single slot there is nothing to leave).
        self.long_slots = max(1, slots - 1)
        self.threads_per_job = threads_per_job
        self.limit_threads = limit_threads
        self._next_sweep = 0.0  # at once on start
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, threading.Thread]] = {}  # job id → (kind, thread)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"jobs:{self.worker_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask every running handler to stop (their jobs return to the queue); True once all
        have stopped within ``timeout``."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(timeout)  # first: it starts nothing more after this
        with self._lock:
            workers = [thread for _, thread in self._running.values()]
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = (self._thread is not None and self._thread.is_alive()) or any(
            t.is_alive() for t in workers
        )
        if stuck:
            log.warning("job runner %s did not stop within %ss", self.worker_id, timeout)
        return not stuck

    def wake(self) -> None:
        """Look for work now instead of at the next poll (e.g. right after a submit)."""
        self._wake.set()

    def running(self) -> list[str]:
        """Ids of the jobs this runner's slots are running now."""
        with self._lock:
            return list(self._running)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking: a job ending meanwhile wakes the wait below
            try:
                self.requeue_stale()
                if time.monotonic() >= self._next_sweep:
                    self.sweep()
                self.fill_slots()
            except Exception:
                log.exception("job runner %s: unexpected error; retrying", self.worker_id)
            self._wake.wait(self.poll_interval_s)

    def fill_slots(self) -> int:
        """Claim jobs into free slots, each started in its own thread; how many were started."""
        started = 0
        while not self._stop.is_set():
            claimed = self._claim_open()
            if claimed is None:
                return started
            job, claim = claimed
            if self._stop.is_set():
                # Stopping began after the check above: perhaps this is the job a slot just
                # gave back to the queue; it waits for the next start, not a second run now.
                self._unclaim(job.id, claim)
                return started
            thread = threading.Thread(
                target=self._work, args=(job, claim), name=f"job:{job.id}", daemon=True
            )
            with self._lock:
                self._running[job.id] = (job.kind, thread)
            thread.start()
            started += 1
        return started

    def _unclaim(self, job_id: str, claim: str) -> None:
        """Give a job claimed but not started back to the queue."""
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker == claim, Job.status == "running")
                .values(status="queued", worker=None, heartbeat_at=None)
                .execution_options(synchronize_session=False)
            )

    def run_once(self) -> bool:
        """Claim one job and run it to its end in the calling thread; False when there was
        nothing to do (for tests and tools; the slots run in ``start``'s threads)."""
        claimed = self._claim_open()
        if claimed is None:
            return False
        job, claim = claimed
        self._run(job, claim)
        return True

    def _claim_open(self) -> tuple[Job, str] | None:
        """The next job a free slot may take, now ours; None when there is none."""
        kinds = self._open_kinds()
        return self._claim_next(kinds) if kinds else None

    def _open_kinds(self) -> list[str]:
        """The kinds a free slot may take now: none when all are busy, no long kind when long
        jobs already hold all the slots they may."""
        with self._lock:
            kinds_running = [kind for kind, _ in self._running.values()]
        if len(kinds_running) >= self.slots:
            return []
        kinds = list(HANDLERS)
        if sum(kind in LONG_KINDS for kind in kinds_running) >= self.long_slots:
            kinds = [kind for kind in kinds if kind not in LONG_KINDS]
        return kinds

    def _work(self, job: Job, claim: str) -> None:
        """A slot's thread: budget its CPU threads, run the job, free the slot."""
        try:
            if job.kind in LONG_KINDS:
                lower_this_thread_priority(LONG_JOB_NICE)
            if self.limit_threads is not None:
                try:
                    self.limit_threads(self.threads_per_job)
                except Exception:
                    log.warning("job %s: could not limit its threads", job.id, exc_info=True)
            self._run(job, claim)
        except Exception:
            log.exception("job %s: unexpected error in its runner", job.id)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self._wake.set()  # a slot is free: look for the next job now

    def sweep(self) -> None:
        """Run every registered sweeper once; one that fails is logged and the rest go on."""
        self._next_sweep = time.monotonic() + self.sweep_interval_s
        for name, fn in list(SWEEPERS.items()):
            try:
                fn(self.db)
            except Exception:
                log.warning("job runner %s: sweeper %s failed", self.worker_id, name, exc_info=True)

    def requeue_stale(self) -> int:
        """Recover jobs whose worker died: re-queue them, or fail them after MAX_ATTEMPTS."""
        now = utcnow()
        dead = (Job.status == "running") & (
            Job.heartbeat_at < now - timedelta(seconds=self.stale_after_s)
        )
        gave_up = (
            f"Gave up after {MAX_ATTEMPTS} attempts: the worker running this job stopped "
            "responding each time"
        )
        steps: list[tuple[Any, dict[str, Any]]] = [
            (dead & Job.cancel_requested, {"status": "cancelled", "finished_at": now}),
            (
                dead & (Job.attempts >= MAX_ATTEMPTS),
                {"status": "failed", "error": gave_up, "finished_at": now},
            ),
            (dead, {"status": "queued", "attempts": Job.attempts + 1, "heartbeat_at": None}),
        ]
        total = 0
        with self.db.session() as s:
            if not s.scalar(select(func.count()).select_from(Job).where(dead)):
                return 0  # the usual case, answered by a read: no write lock every poll
            for where, values in steps:
                done = s.execute(
                    update(Job)
                    .where(where)
                    .values(worker=None, **values)
                    .execution_options(synchronize_session=False)
                )
                total += rowcount(done)
        if total:
            log.warning("job runner %s: recovered %d job(s) of dead workers", self.worker_id, total)
        return total

    def _claim_next(self, kinds: list[str]) -> tuple[Job, str] | None:
        """The oldest queued job of ``kinds`` whose ``after_job`` has ended, now ours."""
        blocker = aliased(Job)
        waiting = exists().where(blocker.id == Job.after_job, blocker.status.in_(PENDING))
        with self.db.session() as s:
            candidates = s.scalars(
                select(Job.id)
                .where(Job.status == "queued", Job.kind.in_(kinds), ~waiting)
                .order_by(Job.created_at, Job.id)
                .limit(10)
            ).all()
        for job_id in candidates:
            claim = f"{self.worker_id}/{secrets.token_hex(6)}"
            now = utcnow()
            with self.db.session() as s:
                done = s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "queued")
                    .values(
                        status="running",
                        worker=claim,
                        heartbeat_at=now,
                        started_at=func.coalesce(Job.started_at, now),
                        attempts=case((Job.attempts < 1, 1), else_=Job.attempts),
                    )
                    .execution_options(synchronize_session=False)
                )
                if rowcount(done) == 1:
                    job = s.get(Job, job_id)
                    assert job is not None
                    return job, claim
        return None  # all taken by other runners meanwhile; the next poll looks again

    def _run(self, job: Job, claim: str) -> None:
        ctx = JobContext(self.db, job, self.data_dir, claim, self._stop, self.store)
        done = threading.Event()
        beats = threading.Thread(target=self._heartbeat, args=(ctx, done), daemon=True)
        beats.start()
        log.info("job %s (%s) started, attempt %d", job.id, job.kind, ctx.attempt)
        wall, cpu = time.monotonic(), time.thread_time()
        outcome: dict[str, Any] | None = None  # None: the handler was stopped
        blocked: JobBlocked | None = None
        try:
            result = HANDLERS[job.kind](ctx)
            if result is not None and not isinstance(result, dict):
                raise TypeError(f"the handler returned {type(result).__name__}, not a dict")
            outcome = {"status": "succeeded", "progress": 1.0, "result": result}
        except JobCancelled:
            pass
        except JobBlocked as exc:
            blocked = exc
        except Exception as exc:
            if ctx.cancel_requested():  # what it worked on went away (a deleted knowledge base)
                log.info("job %s (%s) cancelled: %s", job.id, job.kind, type(exc).__name__)
            else:
                log.warning("job %s (%s) failed", job.id, job.kind, exc_info=True)
                outcome = {"status": "failed", "error": _describe(exc, self.data_dir)}
        finally:
            done.set()
            beats.join()
        # CPU of its own thread (torch work of a one-thread budget): far below the wall time,
        # the job waited for CPUs others held.
        wall, cpu = time.monotonic() - wall, time.thread_time() - cpu
        log.info(
            "job %s (%s) ran %.1f s, %.1f s of CPU in its thread",
            job.id,
            job.kind,
            wall,
            cpu,
            extra={"fields": {"job_id": job.id, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}},
        )
        if blocked is not None:
            self._park(ctx, blocked)
        elif outcome is None:
            self._stopped(ctx)
        else:
            self._settle(ctx, **outcome)

    def _park(self, ctx: JobContext, blocked: JobBlocked) -> None:
        """Back to the queue behind the job it waits for; failed if that one cannot end it."""
        why = self._cannot_wait_for(ctx.job_id, blocked.blocker_id)
        if why is not None:
            error = f"It waits for job {blocked.blocker_id}, which {why}"
            self._settle(ctx, status="failed", error=error[:_MAX_TEXT])
            return
        back = case((Job.cancel_requested, "cancelled"), else_="queued")
        self._write(
            ctx,
            status=back,
            finished_at=case((Job.cancel_requested, utcnow()), else_=None),
            worker=None,
            heartbeat_at=None,
            after_job=blocked.blocker_id,
            message=blocked.reason[:_MAX_TEXT],
            message_code=None,
            message_values=None,
        )
        log.info("job %s waits for job %s", ctx.job_id, blocked.blocker_id)

    def _cannot_wait_for(self, job_id: str, blocker_id: str) -> str | None:
        """Why job ``job_id`` cannot wait for ``blocker_id`` (it would wait forever), or None."""
        if blocker_id == job_id:
            return "is this job itself"
        with self.db.session() as s:
            status = s.scalar(select(Job.status).where(Job.id == blocker_id))
        if status is None:
            return "does not exist"
        return None if status in PENDING else f"is {status}"

    def _stopped(self, ctx: JobContext) -> None:
        if ctx._lost.is_set():
            log.warning("job %s was taken over by another runner; dropping this run", ctx.job_id)
        elif ctx._cancelled.is_set() or not self._stop.is_set():
            self._settle(ctx, status="cancelled")
        else:  # shutting down: back to the queue (unless a cancel arrived meanwhile)
            back = case((Job.cancel_requested, "cancelled"), else_="queued")
            self._write(ctx, status=back, worker=None, heartbeat_at=None)
            log.info("job %s returned to the queue for the next start", ctx.job_id)

    def _settle(self, ctx: JobContext, **values: Any) -> None:
        """Write a final state (only while our claim holds) and drop the checkpoints."""
        latest: dict[str, Any] = {"progress": ctx._fraction, "message": ctx._message}
        latest |= ctx._said  # throttled writes too
        if ctx._live is not None:
            latest["result"] = ctx._live
            if isinstance(values.get("result"), dict):
                values["result"] = ctx._live | values["result"]
            elif values.get("result") is None:
                values.pop("result", None)
        values = latest | values | {"finished_at": utcnow(), "heartbeat_at": utcnow()}
        if "result" in values:
            values["result"] = public_result(values["result"], self.data_dir)
        try:
            written = self._write(ctx, **values)
        except Exception as exc:  # e.g. a result that is not JSON
            if values["status"] != "succeeded":
                raise
            error = _describe(exc, self.data_dir)
            written = self._write(ctx, status="failed", error=error, finished_at=utcnow())
        if written:
            ctx.drop_checkpoints()
            log.info("job %s %s", ctx.job_id, values["status"])

    def _write(self, ctx: JobContext, **values: Any) -> bool:
        with self.db.session() as s:
            done = s.execute(
                update(Job)
                .where(Job.id == ctx.job_id, Job.worker == ctx._claim, Job.status == "running")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return rowcount(done) == 1

    def _heartbeat(self, ctx: JobContext, done: threading.Event) -> None:
        while not done.wait(self.heartbeat_s):
            try:
                ctx.beat()
            except Exception:
                log.warning("job %s: heartbeat failed", ctx.job_id, exc_info=True)


def lower_this_thread_priority(by: int) -> None:
    """Raise the calling thread's nice value by ``by`` (threads it starts later inherit it).

    On Linux the nice value belongs to each thread (setpriority(2), ``PRIO_PROCESS`` with a
    thread id); elsewhere this does nothing rather than slow down the whole process.
    """
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
    except OSError:
        log.warning("could not lower the priority of thread %d", tid, exc_info=True)


def _describe(exc: BaseException, data_dir: Path | None = None) -> str:
    """Type and message only: a traceback could carry paths or secrets to the tenant. Of a
    database error, the driver's own message without SQLAlchemy's statement (the SQL, the
    tables, the values it wrote: a document's text)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        return _describe(exc.orig, data_dir)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return (scrub(text, data_dir) if data_dir is not None else text)[:_MAX_TEXT]


def scrub(text: str, data_dir: Path) -> str:
    """``text`` with the server's data directory replaced: a caller sees ids, not paths."""
    return text.replace(str(Path(data_dir).resolve()), "<data>").replace(str(data_dir), "<data>")


def public_result(result: Any, data_dir: Path) -> Any:
    """A job result (or live snapshot) with every mention of the data directory scrubbed, as
    a last line behind handlers that return model ids rather than paths."""
    if result is None:
        return None
    text = json.dumps(result, ensure_ascii=False)
    return json.loads(scrub(text, data_dir)) if str(Path(data_dir).name) in text else result
