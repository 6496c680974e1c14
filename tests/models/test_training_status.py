"""The 503 for a model still training says what its job is doing: queued (behind how many, or
waiting for another job) or running (how far), not "queued" for as long as it trains."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from aigc.access import Principal
from aigc.errors import ModelNotReady
from aigc.infra.db import Database
from aigc.infra.schema import Job, ModelRecord
from aigc.models.registry import ModelRegistry
from aigc.models.text import gpt  # noqa: F401  (registers train-gpt)
from aigc.models.training import start_training

MEMBER = Principal(tenant_id="t_a", role="member")


def _refusal(db: Database, name: str) -> str:
    with db.session() as s, pytest.raises(ModelNotReady) as refused:
        ModelRegistry().resolve(s, MEMBER, name)
    assert refused.value.headers["Retry-After"]
    return refused.value.message


def _train(db: Database, name: str) -> str:
    with db.session() as s:
        _, job = start_training(s, MEMBER, "gpt", name, {"max_iters": 10})
        return job.id


def _set(db: Database, job_id: str, **values: object) -> None:
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(**values))


def test_queued_then_running_with_its_progress(db: Database) -> None:
    first = _train(db, "gpt-first")
    second = _train(db, "gpt-second")
    assert _refusal(db, "gpt-first") == (
        "The model 'gpt-first' is not ready yet: training (queued, next in line)"
    )
    assert _refusal(db, "gpt-second").endswith("training (queued, 1 job ahead)")

    _set(db, first, status="running", progress=0.42, message="iter 42/100 loss 2.31")
    assert _refusal(db, "gpt-first") == (
        "The model 'gpt-first' is not ready yet: training (running, 42% done: iter 42/100 "
        "loss 2.31)"
    )
    assert _refusal(db, "gpt-second").endswith("training (queued, next in line)")

    _set(db, second, after_job=first, message="waiting for the CLIP model 'clip-x'")
    assert _refusal(db, "gpt-second").endswith(
        "training (queued, waiting for the CLIP model 'clip-x')"
    )


def test_a_training_whose_job_ended_says_so(db: Database) -> None:
    job_id = _train(db, "gpt-gone")
    _set(db, job_id, status="failed")
    assert _refusal(db, "gpt-gone").endswith("training (its training job failed)")


def test_without_a_job_the_record_speaks_for_itself(db: Database) -> None:
    _train(db, "gpt-nojob")
    with db.session() as s:
        s.execute(
            update(ModelRecord)
            .where(ModelRecord.name == "gpt-nojob")
            .values(config={}, status_detail="copying weights")
        )
    assert _refusal(db, "gpt-nojob").endswith("training (copying weights)")
