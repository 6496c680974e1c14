"""What a model that is still training is doing, in words, for its 503 "not ready yet".

The model's record says only "training"; its job knows the rest: running (how far, its last
message) or queued (behind how many jobs, or waiting for another job to end).
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aigc.infra.schema import Job, ModelRecord

_MAX_MESSAGE = 200


def training_detail(session: Session, record: ModelRecord) -> str:
    """E.g. "running, 42% done: step 420/1000" or "queued, 3 jobs ahead"; the record's own
    detail when it has no job to ask."""
    job_id = (record.config or {}).get("job_id")
    job = session.get(Job, job_id) if isinstance(job_id, str) else None
    if job is None:
        return record.status_detail
    if job.status == "running":
        done = f"running, {job.progress:.0%} done"
        return f"{done}: {job.message[:_MAX_MESSAGE]}" if job.message else done
    if job.status == "queued":
        if job.after_job is not None and job.message:
            return f"queued, {job.message[:_MAX_MESSAGE]}"
        return f"queued, {_ahead(session, job)}"
    return f"its training job {job.status}"


def _ahead(session: Session, job: Job) -> str:
    """How many queued jobs were submitted before this one (runners take the oldest first)."""
    count = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.status == "queued",
            or_(
                Job.created_at < job.created_at,
                (Job.created_at == job.created_at) & (Job.id < job.id),
            ),
        )
    )
    n = int(count or 0)
    if n == 0:
        return "next in line"
    return f"{n} job{'s' if n != 1 else ''} ahead"
