"""A family defined only in the test suite trains as a job and serves, registered by one line.

``tests/models/toy_family.py`` is the whole family; loading it (as ``AIGC_FAMILY_MODULES`` does
for a server or the CLI) is all the platform needs. The live server, CLI help and console form
are shown by tests/e2e/test_toy_family.py and tests/e2e/console/test_toy_family.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aigc.gateway.errors import InvalidRequest
from aigc.infra.db import Database
from aigc.infra.schema import ModelRecord
from aigc.models.family import get_family, load_families, trainable
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.registry import ModelRegistry, model_view
from tests.models.training_runs import running_jobs, submit, wait_for

TOY = "tests.models.toy_family"


@pytest.fixture(autouse=True)
def toy_loaded() -> None:
    load_families([TOY])


def test_the_toy_family_is_declared_once_and_listed_with_the_others() -> None:
    toy = get_family("toy")
    assert toy is not None and toy.kind == "text"
    assert "toy" in {f.name for f in trainable("text")}
    schema = toy.view()["params_schema"]
    assert schema["properties"]["smoothing"]["default"] == 0.5
    assert schema["properties"]["smoothing"]["maximum"] == 10.0


def test_its_parameters_are_checked_by_its_model(db: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as refused:
        submit(db, tmp_path, family="toy", name="toy-bad", params={"smoothing": 99}, texts=1)
    assert refused.value.param == "params.smoothing"
    assert "from 0.01 to 10.0" in refused.value.message
    with pytest.raises(InvalidRequest) as unknown:
        submit(db, tmp_path, family="toy", name="toy-bad", params={"order": 3}, texts=1)
    assert "known: lowercase, max_chars, smoothing" in unknown.value.message


def test_it_trains_as_a_job_and_answers_a_chat(db: Database, tmp_path: Path) -> None:
    record_id, job_id = submit(
        db, tmp_path, family="toy", name="toy-pydoc", params={"max_chars": 30}, texts=3
    )
    with running_jobs(db, tmp_path):
        job = wait_for(
            db, job_id, lambda j: j.status in ("succeeded", "failed"), time.monotonic() + 60
        )
    assert job.status == "succeeded", job.error
    with db.session() as s:
        record = s.get(ModelRecord, record_id)
        assert record is not None and record.status == "ready"
        assert record.kind == "text" and record.config["val_perplexity"] > 1
        view = model_view(record)
        model = ModelRegistry().load(record)
    assert view["capabilities"] == ["chat", "completions", "streaming"]
    request = TextRequest(messages=[ChatMessage("user", "Say t")], temperature=0.0, max_tokens=20)
    answer = "".join(model.generate(request))
    assert 0 < len(answer) <= 20
    assert answer == "".join(model.generate(request))  # greedy: the same answer again
