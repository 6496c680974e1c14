"""Helpers of the job tests: submit as tenant A, read a job back, wait for a state."""

from __future__ import annotations

import threading
import time
from typing import Any

from aigc.access import Principal
from aigc.infra import jobs
from aigc.infra.db import Database
from aigc.infra.schema import Job

A = Principal(tenant_id="t_a", role="member")


def submit(db: Database, kind: str, params: dict[str, Any] | None = None) -> str:
    with db.session() as s:
        return jobs.submit(s, A, kind, params).id


def job(db: Database, job_id: str) -> Job:
    with db.session() as s:
        return jobs.get_job(s, A, job_id)


def wait_for(db: Database, job_id: str, *statuses: str, timeout: float = 20) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = job(db, job_id)
        if current.status in statuses:
            return current
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} is {current.status}, not {statuses}")


def until(event: threading.Event, timeout: float = 20) -> None:
    assert event.wait(timeout), "timed out"


def eventually(check: Any, timeout: float = 20) -> None:
    """Wait until ``check()`` is true (state another thread is about to write)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
