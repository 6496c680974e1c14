"""The shipped default gpt-pydoc: queued as a training job at first start, served when done."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import ModelNotReady
from aigc.infra.db import Database
from aigc.infra.jobs import JobRunner
from aigc.infra.schema import Job, ModelRecord
from aigc.models.protocols import TextRequest
from aigc.models.registry import ModelRegistry
from aigc.models.text import gpt
from aigc.tables import Base


def test_bootstrap_queues_gpt_pydoc_once_and_the_job_makes_it_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGC_GPT_PYDOC_ITERS", "2")  # a tiny run: behaviour, not quality
    db = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    Base.metadata.create_all(db.engine)
    settings = Settings(data_dir=tmp_path)
    gpt.bootstrap_default(db, settings)
    gpt.bootstrap_default(db, settings)  # the next start finds it and does nothing
    with db.session() as s:
        record = s.scalars(select(ModelRecord).where(ModelRecord.name == "gpt-pydoc")).one()
        queued = s.scalars(select(Job).where(Job.kind == "train-gpt")).all()
        assert record.tenant_id is None and record.status == "training"
        assert len(queued) == 1 and queued[0].params["source"] == "pydoc"
        assert queued[0].params["max_iters"] == 2
        caller = Principal(tenant_id="t_any", role="member")
        with pytest.raises(ModelNotReady) as refused:
            ModelRegistry().check_usable(caller, record)
        assert refused.value.headers["Retry-After"]
    assert JobRunner(db, tmp_path, "test").run_once()
    with db.session() as s:
        record = s.scalars(select(ModelRecord).where(ModelRecord.name == "gpt-pydoc")).one()
        assert record.status == "ready", record.status_detail
        assert record.config["val_perplexity"] > 1
        assert record.config["tokenizer"] == "bpe"
        model = ModelRegistry().load(record)
    text = "".join(model.generate(TextRequest(prompt="def ", max_tokens=8, temperature=0)))
    assert isinstance(text, str) and "\ufffd" not in text
    db.dispose()
