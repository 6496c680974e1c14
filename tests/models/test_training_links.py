"""Training on a server folder (``data_path``) reads only what is really inside it.

The attack run's case: ``POST /api/train`` with ``data_path`` on a folder holding a link to a
file outside the import root, and the trained model printed the outside secret. The route calls
``submit_training``; the job reads the folder with ``read_texts``. Both are exercised here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc.access import Principal
from aigc.infra.db import Database
from aigc.infra.jobs import JobRunner
from aigc.infra.paths import LEAVES
from aigc.infra.schema import ModelRecord, Tenant
from aigc.models.image.data import load_folder
from aigc.models.text import ngram  # noqa: F401 (registers the train-ngram job)
from aigc.models.text.data import read_texts
from aigc.models.text.submit import submit_training
from aigc.tables import Base

SECRET = "zebraquux"  # one word, so a word-level model would hold it verbatim
INSIDE = "the cat sat on the mat and the dog sat on the log\n" * 20


def corpus(tmp_path: Path) -> Path:
    """imports/corpus: one text inside, a file link and a folder link leading out."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text(f"{SECRET} {SECRET}\n" * 50, encoding="utf-8")
    (outside / "dir" / "more.txt").write_text(f"{SECRET}\n" * 50, encoding="utf-8")
    folder = tmp_path / "imports" / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "inside.txt").write_text(INSIDE, encoding="utf-8")
    (folder / "sub" / "deep.txt").symlink_to(outside / "secret.txt")
    (folder / "linked").symlink_to(outside / "dir", target_is_directory=True)
    return folder


def test_read_texts_skips_links_out_of_the_folder(tmp_path: Path) -> None:
    folder = corpus(tmp_path)
    skipped: list[str] = []
    docs = read_texts([folder], skipped)
    assert docs == [INSIDE.strip(" ")] and SECRET not in "".join(docs)
    assert skipped == [f"linked: {LEAVES}", f"sub/deep.txt: {LEAVES}"]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as s:
        s.add(Tenant(id="t_a", name="A"))
    return database


def test_training_job_on_data_path_never_sees_the_outside_text(
    db: Database, tmp_path: Path
) -> None:
    folder = corpus(tmp_path)
    admin = Principal(tenant_id="t_a", role="owner", platform_admin=True)
    with db.session() as s:  # what POST /api/train does for the platform admin
        record, _ = submit_training(
            s,
            admin,
            family="ngram",
            name="ngram-links",
            params={"order": 2, "tokenizer": "word"},
            file_ids=None,
            data_path=str(folder),
            data_dir=tmp_path / "data",
            import_roots=[tmp_path / "imports"],
        )
        record_id = record.id
    assert JobRunner(db, tmp_path / "data", worker_id="test").run_once()
    with db.session() as s:
        config = s.get(ModelRecord, record_id).config
    model_files = b"".join(p.read_bytes() for p in Path(config["path"]).rglob("*") if p.is_file())
    assert b"mat" in model_files and SECRET.encode() not in model_files
    assert config["skipped_files"] == [f"linked: {LEAVES}", f"sub/deep.txt: {LEAVES}"]


def test_image_folder_skips_links_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "imports" / "shapes"
    (folder / "cats").mkdir(parents=True)
    pixels = np.zeros((16, 16, 3), np.uint8)
    Image.fromarray(pixels).save(folder / "cats" / "1.png")
    Image.fromarray(pixels + 255).save(outside / "secret.png")
    (folder / "cats" / "2.png").symlink_to(outside / "secret.png")
    (outside / "captions.jsonl").write_text('{"file": "cats/1.png", "caption": "x"}\n')
    (folder / "captions.jsonl").symlink_to(outside / "captions.jsonl")
    data = load_folder(folder, size=8)
    assert len(data) == 1 and data.captions == []
    assert data.skipped == [f"captions.jsonl: {LEAVES}", f"cats/2.png: {LEAVES}"]
