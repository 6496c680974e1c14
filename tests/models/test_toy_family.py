"""A family defined only in the test suite trains as a job and serves, registered by one line.

``tests/models/toy_family.py`` is the whole family; loading it (as ``AIGC_FAMILY_MODULES`` does
for a server or the CLI) is all the platform needs. The live server, CLI help and console form
are shown by tests/e2e/test_toy_family.py and tests/e2e/console/test_toy_family.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aigc.errors import InvalidRequest
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


def test_an_integer_parameter_takes_a_json_integer_written_with_a_point(
    db: Database, tmp_path: Path
) -> None:
    """80.0 is an integer to JSON Schema (the OpenAPI document's "type": "integer"), so a
    client may send it; 80.5 and true are not integers."""
    submit(db, tmp_path, family="toy", name="toy-point", params={"max_chars": 80.0}, texts=1)
    for value in (80.5, True):
        with pytest.raises(InvalidRequest) as refused:
            submit(db, tmp_path, family="toy", name="toy-bad", params={"max_chars": value}, texts=1)
        assert refused.value.param == "params.max_chars"


def test_null_stands_for_the_default_where_the_schema_allows_it(
    db: Database, tmp_path: Path
) -> None:
    """n-gram's vocab_size is ``int | None`` (null in its JSON schema, as the document shows):
    null once got "'vocab_size' must be an integer" back."""
    submit(db, tmp_path, family="ngram", name="ngram-null", params={"vocab_size": None}, texts=1)
    with pytest.raises(InvalidRequest) as refused:  # max_chars takes no null
        submit(db, tmp_path, family="toy", name="toy-null", params={"max_chars": None}, texts=1)
    assert refused.value.param == "params.max_chars"


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


def test_it_appears_in_the_cli_help_with_its_parameters_as_options() -> None:
    env = os.environ | {"AIGC_FAMILY_MODULES": TOY, "COLUMNS": "200"}
    cli = [sys.executable, "-m", "aigc.cli", "train"]
    listed = subprocess.run([*cli, "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"toy\s+Train a character bigram model", listed.stdout), listed.stdout
    own = subprocess.run([*cli, "toy", "--help"], env=env, capture_output=True, text=True)
    assert own.returncode == 0, own.stderr
    assert "--smoothing" in own.stdout and "--max-chars" in own.stdout and "--data" in own.stdout
    plain = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=120)
    assert not re.search(r"\btoy\b", plain.stdout)  # only where the setting names it


def test_aigc_train_toy_trains_it_from_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aigc.cli import app

    data = tmp_path / "corpus.txt"
    data.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 20, encoding="utf-8")
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", str(tmp_path))
    monkeypatch.setenv("AIGC_FAMILY_MODULES", TOY)
    runner = CliRunner()
    args = ["train", "toy", "--data", str(data), "--name", "toy-cli", "--max-chars", "12"]
    trained = runner.invoke(app, [*args, "--lowercase"])
    assert trained.exit_code == 0, trained.output
    assert "val_perplexity" in trained.output
    listed = runner.invoke(app, ["models", "list"])
    assert "toy-cli" in listed.output and "ready" in listed.output
    refused = runner.invoke(
        app, ["train", "toy", "--data", str(data), "--name", "toy-2", "--smoothing", "50"]
    )
    assert refused.exit_code == 1 and "smoothing" in refused.output
