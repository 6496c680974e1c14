"""Training jobs: parameters are checked before a job exists; a running job can be cancelled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aigc.errors import InvalidRequest
from aigc.infra.db import Database
from aigc.infra.schema import Job, ModelRecord
from aigc.models.text import gpt  # noqa: F401  (registers train-gpt)
from tests.models.training_runs import cancel_and_wait, running_jobs, submit, wait_for


def _submit(db: Database, root: Path, name: str, params: dict[str, object]) -> tuple[str, str]:
    return submit(db, root, family="gpt", name=name, params=params, texts=5)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"n_layer": 0}, "params.n_layer"),
        ({"n_embd": 10**6}, "params.n_embd"),
        ({"learning_rate": "fast"}, "params.learning_rate"),
        ({"tokenizer": "sentencepiece"}, "params.tokenizer"),
        ({"n_layers": 2}, "params.n_layers"),
        ({"n_embd": 100, "n_head": 3}, "params.n_embd"),
    ],
)
def test_bad_parameters_are_refused_by_name(
    db: Database, tmp_path: Path, params: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        _submit(db, tmp_path, "gpt-bad", params)
    assert refused.value.param == named
    with db.session() as s:
        assert s.query(Job).count() == 0 and s.query(ModelRecord).count() == 0


def test_a_running_training_job_can_be_cancelled(db: Database, tmp_path: Path) -> None:
    tiny = {"n_layer": 1, "n_head": 1, "n_embd": 16, "block_size": 16, "batch_size": 2}
    record_id, job_id = _submit(db, tmp_path, "gpt-long", tiny | {"max_iters": 1_000_000})
    with running_jobs(db, tmp_path):
        deadline = time.monotonic() + 60
        wait_for(db, job_id, lambda job: "iter" in job.message, deadline)
        cancel_and_wait(db, job_id, deadline)
    with db.session() as s:
        job, record = s.get(Job, job_id), s.get(ModelRecord, record_id)
        assert job is not None and record is not None
        assert job.status == "cancelled"
        assert record.status == "failed" and "cancelled" in record.status_detail
