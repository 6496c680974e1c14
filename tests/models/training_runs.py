"""Submitting a tiny training job, running it in a background runner, and cancelling it.

Shared by the training-job tests so that each one states only what it waits for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from aigc.access import Principal
from aigc.infra import jobs
from aigc.infra.db import Database
from aigc.infra.schema import Job
from aigc.models.text import neural
from aigc.models.text.submit import submit_training

OWNER = Principal(tenant_id="t_a", role="owner", platform_admin=True)


def submit(
    db: Database,
    root: Path,
    *,
    family: str,
    name: str,
    params: dict[str, object],
    texts: int,
) -> tuple[str, str]:
    """Write a corpus of ``texts`` pydoc pages under ``root`` and submit a job on it as OWNER.

    Returns the model record's id and the job's id.
    """
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(neural.pydoc_texts()[:texts]), encoding="utf-8")
    with db.session() as s:
        record, job = submit_training(
            s,
            OWNER,
            family=family,
            name=name,
            params=params,
            file_ids=None,
            data_path=str(corpus),
            data_dir=root,
            import_roots=[root],
            via_cli=True,
        )
        return record.id, job.id


@contextmanager
def running_jobs(db: Database, root: Path) -> Iterator[jobs.JobRunner]:
    """A job runner polling in the background for the duration of the block."""
    runner = jobs.JobRunner(db, root, "test", poll_interval_s=0.05)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def wait_for(db: Database, job_id: str, done: Callable[[Job], bool], deadline: float) -> Job:
    """Poll the job until ``done(job)`` holds; fail with its message once ``deadline`` passes."""
    while True:
        with db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            if done(job):
                return job
        assert time.monotonic() < deadline, job.message
        time.sleep(0.1)


def cancel_and_wait(db: Database, job_id: str, deadline: float) -> Job:
    """Cancel the job as OWNER and wait until it has stopped running."""
    with db.session() as s:
        jobs.cancel_job(s, OWNER, job_id)
    return wait_for(db, job_id, lambda job: job.status != "running", deadline)
