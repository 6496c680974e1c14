"""Training as jobs: default digit models are queued once, and a job leaves a ready model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select, update

from aigc.config import Settings
from aigc.infra.db import Database
from aigc.infra.jobs import JobRunner
from aigc.infra.schema import Job, ModelRecord, utcnow
from aigc.models.family import get_family
from aigc.models.image import family as image_family
from aigc.models.multimodal import family as mm_family
from aigc.models.protocols import ImageRequest


def test_default_models_are_queued_once(tenant_db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    for _ in range(2):  # idempotent: the second start finds the models
        image_family.bootstrap_default(tenant_db, settings)
        mm_family.bootstrap_default(tenant_db, settings)
    with tenant_db.session() as s:
        models = {m.name: m for m in s.scalars(select(ModelRecord))}
        kinds = sorted(j.kind for j in s.scalars(select(Job)))
    assert set(models) == {
        "gan-digits",
        "vae-digits",
        "clip-digits",
        "mm-digits-captioner",
        "mm-digits-text2image",
    }
    assert all(m.tenant_id is None and m.status == "training" for m in models.values())
    assert kinds == ["train-clip", "train-gan", "train-mm", "train-mm", "train-vae"]


def test_a_training_job_leaves_a_ready_loadable_model(tenant_db: Database, tmp_path: Path) -> None:
    defaults = {"vae-quick": ("vae", {"data": "digits", "subset": "even", "steps": 30})}
    image_family.bootstrap_defaults_of(tenant_db, defaults)
    runner = JobRunner(tenant_db, tmp_path, worker_id="test")
    assert runner.run_once()
    with tenant_db.session() as s:
        record = s.scalar(select(ModelRecord).where(ModelRecord.name == "vae-quick"))
        job = s.scalar(select(Job))
        assert record is not None and job is not None
        assert job.status == "succeeded", job.error
        assert record.status == "ready" and record.config["size"] == 8
        model = get_family("vae").loader(record.config)
    images = model.generate_images(ImageRequest(prompt="2", n=2, seed=0))
    assert images.shape == (2, 8, 8, 1) and images.dtype == np.uint8
    assert sorted(p.name for p in (Path(record.config["path"]) / "samples").iterdir())[:1] == [
        "step-000003.png"
    ]


def test_text2image_waits_in_the_queue_while_its_clip_model_trains(
    tenant_db: Database, tmp_path: Path
) -> None:
    """Jobs run side by side, so a text-to-image job can be taken while its CLIP model still
    trains: it goes back to the queue behind the CLIP job instead of failing, and runs after."""
    digits = {"data": "digits", "subset": "even", "steps": 3}
    defaults = {
        "clip-wait": ("clip", digits),
        "mm-wait": ("mm", digits | {"kind": "text2image", "clip": "clip-wait"}),
    }
    image_family.bootstrap_defaults_of(tenant_db, defaults)
    with tenant_db.session() as s:
        clip_job = s.scalars(select(Job).where(Job.kind == "train-clip")).one().id
        s.execute(  # another runner has taken the CLIP job
            update(Job).where(Job.id == clip_job).values(status="running", heartbeat_at=utcnow())
        )
    runner = JobRunner(tenant_db, tmp_path, worker_id="test")
    assert runner.run_once()  # the text-to-image job: parked behind the CLIP job
    with tenant_db.session() as s:
        t2i = s.scalars(select(Job).where(Job.kind == "train-mm")).one()
        record = s.scalars(select(ModelRecord).where(ModelRecord.name == "mm-wait")).one()
        assert (t2i.status, t2i.after_job, t2i.error) == ("queued", clip_job, None)
        assert "clip-wait" in t2i.message and record.status == "training"
    assert not runner.run_once()  # nothing it may take while the CLIP job runs

    with tenant_db.session() as s:  # that runner stopped: the CLIP job is queued again
        s.execute(update(Job).where(Job.id == clip_job).values(status="queued"))
    assert runner.run_once() and runner.run_once()  # the CLIP model, then text-to-image
    with tenant_db.session() as s:
        statuses = {m.name: m.status for m in s.scalars(select(ModelRecord))}
    assert statuses == {"clip-wait": "ready", "mm-wait": "ready"}
