"""A training job publishes its loss curve and samples while it runs, and keeps them after.

The console's Training page draws these; the job's ``result`` carries them (``metrics``) while
the job runs, merged with the model's numbers when it succeeds, and kept when it is cancelled.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from aigc.infra import jobs
from aigc.infra.db import Database
from aigc.infra.jobs import JobCancelled, JobContext, JobRunner
from aigc.infra.schema import Job
from aigc.models import trainer
from aigc.models.text import gpt, rnn  # noqa: F401  (registers train-gpt, train-rnn)
from aigc.models.text.live import MAX_POINTS, LiveMetrics
from tests.models.training_runs import OWNER, cancel_and_wait, running_jobs, submit, wait_for

TINY = {
    "tokenizer": "char",
    "n_layer": 1,
    "n_embd": 16,
    "block_size": 16,
    "batch_size": 2,
    "eval_interval": 10,
    "warmup_iters": 2,
}


def _progress(it: int, loss: float = 2.0, val: float | None = None) -> trainer.Progress:
    return trainer.Progress(it, 1000, loss, val, 1.0, 1.0, 1e-3)


def test_the_curve_is_bounded_and_a_resumed_run_drops_points_past_its_checkpoint() -> None:
    live = LiveMetrics(max_iters=100_000)
    for it in range(1, 100_001):
        live.add(_progress(it), evaluated=False)
        assert len(live.loss) < 2 * MAX_POINTS
    steps = {b[0] - a[0] for a, b in zip(live.loss[:-2], live.loss[1:-1], strict=True)}
    assert len(live.loss) >= MAX_POINTS and len(steps) == 1  # evenly spread over the run
    assert live.loss[-1][0] == 100_000  # the last iteration is always there
    live = LiveMetrics(100)
    for it in range(1, 31):
        live.add(_progress(it, val=1.5 if it % 10 == 0 else None), evaluated=it % 10 == 0)
    live.add_sample(30, "hello")
    resumed = LiveMetrics(100, live.view())
    resumed.add(_progress(21), evaluated=False)  # the checkpoint was at 20
    metrics = resumed.view()["metrics"]
    assert [p[0] for p in metrics["loss"]] == list(range(1, 22))
    assert [p[0] for p in metrics["val_loss"]] == [10, 20]
    assert metrics["samples"] == []


def test_published_results_are_kept_on_cancel_and_merged_on_success(
    db: Database, tmp_path: Path
) -> None:
    saved = dict(jobs.HANDLERS)

    def cancelled(ctx: JobContext) -> dict[str, Any]:
        ctx.publish({"metrics": {"loss": [[1, 2.0]]}})
        raise JobCancelled(ctx.job_id)

    def finished(ctx: JobContext) -> dict[str, Any]:
        ctx.publish({"metrics": {"loss": [[1, 2.0]]}})
        return {"val_loss": 1.0}

    jobs.register_handler("t-cancel", cancelled)
    jobs.register_handler("t-done", finished)
    try:
        with db.session() as s:
            first = jobs.submit(s, OWNER, "t-cancel").id
            second = jobs.submit(s, OWNER, "t-done").id
        runner = JobRunner(db, tmp_path, "w")
        assert runner.run_once() and runner.run_once()
    finally:
        jobs.HANDLERS.clear()
        jobs.HANDLERS.update(saved)
    with db.session() as s:
        a, b = s.get(Job, first), s.get(Job, second)
        assert a is not None and b is not None
        assert (a.status, a.result) == ("cancelled", {"metrics": {"loss": [[1, 2.0]]}})
        assert (b.status, b.result) == (
            "succeeded",
            {"metrics": {"loss": [[1, 2.0]]}, "val_loss": 1.0},
        )


@pytest.mark.parametrize("family", ["gpt", "rnn"])
def test_a_neural_job_shows_its_curve_and_samples_while_running(
    db: Database, tmp_path: Path, family: str
) -> None:
    params = TINY | {"max_iters": 1_000_000} | ({"n_head": 1} if family == "gpt" else {})
    _, job_id = submit(db, tmp_path, family=family, name=f"{family}-live", params=params, texts=3)

    def shows_curve_and_sample(row: Job) -> bool:
        metrics = (row.result or {}).get("metrics") or {}
        return len(metrics.get("loss", [])) >= 3 and bool(metrics.get("samples"))

    with running_jobs(db, tmp_path):
        deadline = time.monotonic() + 90
        # the running job's result already holds points and a sample
        row = wait_for(db, job_id, shows_curve_and_sample, deadline)
        assert row.status == "running"
        row = cancel_and_wait(db, job_id, deadline)
    assert row.status == "cancelled"
    metrics = row.result["metrics"]
    assert all(isinstance(loss, float) and loss > 0 for _, loss in metrics["loss"])
    assert [p[0] for p in metrics["loss"]] == sorted({p[0] for p in metrics["loss"]})
    assert metrics["val_loss"] and isinstance(metrics["samples"][0]["text"], str)
