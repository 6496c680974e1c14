"""Training jobs: parameters are checked before a job exists; a running job can be cancelled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aigc.gateway.auth import Principal
from aigc.gateway.errors import InvalidRequest
from aigc.infra import jobs
from aigc.infra.db import Base, Database
from aigc.infra.schema import Job, ModelRecord, Tenant
from aigc.models.text import gpt, neural  # noqa: F401  (registers train-gpt)
from aigc.models.text.submit import submit_training

OWNER = Principal(tenant_id="t_a", role="owner", platform_admin=True)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as s:
        s.add(Tenant(id="t_a", name="A"))
    yield database
    database.dispose()


def _submit(db: Database, root: Path, name: str, params: dict[str, object]) -> tuple[str, str]:
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(neural.pydoc_texts()[:5]), encoding="utf-8")
    with db.session() as s:
        record, job = submit_training(
            s,
            OWNER,
            family="gpt",
            name=name,
            params=params,
            file_ids=None,
            data_path=str(corpus),
            data_dir=root,
            import_roots=[root],
            via_cli=True,
        )
        return record.id, job.id


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
    runner = jobs.JobRunner(db, tmp_path, "test", poll_interval_s=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            with db.session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                if "iter" in job.message:
                    break
            assert time.monotonic() < deadline, job.message
            time.sleep(0.1)
        with db.session() as s:
            jobs.cancel_job(s, OWNER, job_id)
        while True:
            with db.session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                if job.status != "running":
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        runner.stop()
    with db.session() as s:
        job, record = s.get(Job, job_id), s.get(ModelRecord, record_id)
        assert job is not None and record is not None
        assert job.status == "cancelled"
        assert record.status == "failed" and "cancelled" in record.status_detail
