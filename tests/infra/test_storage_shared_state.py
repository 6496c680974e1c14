"""What instances share through the blob store beyond single files: a job's checkpoints
(resumed on another instance) and a trained model's folder (loaded by another instance at the
version the database names, reloaded when that version changes).

The "other instance" is another data directory with the same store; S3 runs against moto's
server (a protocol check, tests/s3_server.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from aigc.infra.jobs import JobContext
from aigc.infra.schema import Job, ModelRecord
from aigc.infra.storage import BlobStore
from aigc.models.registry import ModelRegistry
from aigc.models.text.ngram import TrainParams, train_on_texts
from aigc.models.training import model_prefix, publish_model

TEXT = ["the desk is on the third floor .", "服务台 在 三楼 。", "the desk opens at nine ."] * 20


def _context(data_dir: Path, store: BlobStore) -> JobContext:
    job = Job(id="job_shared", tenant_id="t1", kind="train-x", params={}, attempts=1)
    job.progress, job.message, job.result = 0.0, "", None
    return JobContext(None, job, data_dir, "claim", threading.Event(), store)  # type: ignore[arg-type]


def test_checkpoints_saved_on_one_instance_are_found_by_the_next(
    store: BlobStore, tmp_path: Path
) -> None:
    first = _context(tmp_path / "a", store)
    (first.checkpoint_dir / "tokenizer").mkdir()
    (first.checkpoint_dir / "tokenizer" / "vocab.json").write_text('{"词": 1}')
    (first.checkpoint_dir / "checkpoint.pt").write_bytes(b"\x00weights" * 1000)
    first.save_checkpoints()
    # the instance that resumes it after a crash has never seen it
    second = _context(tmp_path / "b", store)
    assert second.checkpoint_dir != first.checkpoint_dir
    assert (second.checkpoint_dir / "checkpoint.pt").read_bytes() == b"\x00weights" * 1000
    assert (second.checkpoint_dir / "tokenizer" / "vocab.json").read_text() == '{"词": 1}'
    second.drop_checkpoints()  # the job ended: gone from the store as well
    assert store.list("jobs/job_shared/") == []
    assert not second.checkpoint_dir.exists()


def test_a_model_trained_elsewhere_loads_and_reloads_when_its_version_changes(
    store: BlobStore, tmp_path: Path
) -> None:
    trained = tmp_path / "a" / "models" / "mdl_x"
    config = train_on_texts(TEXT, TrainParams(order=2, tokenizer="word"), trained)
    config |= publish_model(store, trained, "mdl_x")
    assert config["storage"]["prefix"] == model_prefix("mdl_x")
    record = ModelRecord(id="mdl_x", name="ngram-x", family="ngram", config=config)
    config["path"] = str(tmp_path / "not-on-this-machine")  # what A wrote means nothing to B
    registry = ModelRegistry(store=store, cache_dir=tmp_path / "b" / "cache")
    first = registry.load(record)
    assert registry.load(record) is first  # cached while the version holds
    # retrained: a new folder under the same prefix, a new version in the database
    config2 = train_on_texts(TEXT * 2, TrainParams(order=3, tokenizer="word"), trained)
    config2 |= publish_model(store, trained, "mdl_x")
    assert config2["storage"]["version"] != config["storage"]["version"]
    record.config = config2 | {"path": str(tmp_path / "not-on-this-machine")}
    assert registry.loaded(record) is None  # stale: not handed out
    second = registry.load(record)
    assert second is not first
    assert second.lm.order == 3  # type: ignore[attr-defined]
