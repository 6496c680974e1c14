"""Stateless instances: two `aigc serve` processes with their own data directories, one
PostgreSQL and one blob store (a shared directory, or S3 through moto's server as a protocol
check). What one instance stores, the other serves: an uploaded file, a knowledge-base
document, a trained model.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.pair import two_instances
from tests.e2e.server import Org, Server, make_org
from tests.s3_server import make_bucket, s3_env

pytestmark = pytest.mark.timeout(900)

NOTES = "会议纪要：第三季度预算已批准。\nMeeting notes: Q3 budget approved.\n".encode()
CORPUS = (
    "the help desk is on the third floor .\n"
    "the help desk opens at nine .\n"
    "服务台 在 三楼 ， 工作 时间 是 周一 到 周五 。\n"
) * 40


@pytest.fixture(params=["directory", "s3"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> Iterator[tuple[Server, Server, Path | None]]:
    """Instances A and B; the shared folder for the directory backend (None for S3)."""
    if request.param == "directory":
        shared: Path | None = tmp_path / "shared-volume"
        storage = {"AIGC_STORAGE_DIR": str(shared)}
    else:
        shared = None
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = f"aigc-{os.urandom(4).hex()}"
        make_bucket(endpoint, bucket)
        storage = s3_env(endpoint, bucket, prefix="prod/")
    with two_instances(tmp_path, postgres_url, storage, AIGC_JOB_SLOTS="2") as (a, b):
        yield a, b, shared


def _local_files(server: Server) -> list[Path]:
    return [p for p in server.data_dir.rglob("*") if p.is_file()]


def test_a_file_uploaded_through_a_downloads_through_b(
    pair: tuple[Server, Server, Path | None],
) -> None:
    a, b, shared = pair
    org: Org = make_org(a, "Shared Files")
    uploaded = a.sdk(org.member_key).files.create(file=("纪要.txt", NOTES), purpose="user_data")
    # B has never seen it: not in its data directory, only in the shared store
    assert not any(uploaded.id in str(p) for p in _local_files(b))
    assert not any(uploaded.id in str(p) for p in _local_files(a))
    if shared is not None:
        assert (shared / "files" / org.id / uploaded.id).read_bytes() == NOTES
    via_b = b.sdk(org.member_key)
    assert via_b.files.content(uploaded.id).content == NOTES
    assert via_b.files.retrieve(uploaded.id).filename == "纪要.txt"
    # another tenant asks B: not found, exactly as if it did not exist
    other = make_org(b, "Other Tenant")
    with pytest.raises(openai.NotFoundError):
        b.sdk(other.member_key).files.content(uploaded.id)
    # deleted through B: gone for A too, bytes included
    via_b.files.delete(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        a.sdk(org.member_key).files.content(uploaded.id)
    if shared is not None:
        assert not (shared / "files" / org.id / uploaded.id).exists()


def test_a_model_trained_through_one_instance_is_served_by_both(
    pair: tuple[Server, Server, Path | None],
) -> None:
    a, b, shared = pair
    org = make_org(a, "Trainers")
    file_id = (
        a.sdk(org.member_key)
        .files.create(file=("corpus.txt", CORPUS.encode()), purpose="training")
        .id
    )
    body = {
        "family": "ngram",
        "name": "ngram-desk",
        "file_ids": [file_id],
        "params": {"order": 3, "tokenizer": "word"},
    }
    started = a.api("POST", "/api/train", key=org.member_key, json=body)
    assert started.status_code == 202, started.text
    done = a.wait_job(org.member_key, started.json()["job"]["id"], timeout=300)
    assert done["status"] == "succeeded", done
    # exactly one instance ran the job and wrote the model locally; the other never had it
    trained_on = [s for s in (a, b) if list((s.data_dir / "models").glob("mdl_*/*"))]
    assert len(trained_on) == 1, [s.data_dir for s in trained_on]
    other = b if trained_on[0] is a else a
    for server in (other, trained_on[0]):
        answer = server.sdk(org.member_key).completions.create(
            model="ngram-desk", prompt="the help desk", max_tokens=8, seed=1
        )
        assert answer.choices[0].text.strip(), server.base_url
    # the instance that did not train it serves it from the shared store (directory) or from
    # its cache of the stored version (S3)
    if shared is not None:
        assert list((shared / "models").glob("mdl_*/*"))
        assert not (other.data_dir / "cache").exists()
    else:
        cached = list((other.data_dir / "cache" / "blobs" / "models").glob("mdl_*/*/*"))
        assert cached, "the model was not materialised from S3"
    same = [
        s.sdk(org.member_key)
        .completions.create(model="ngram-desk", prompt="the help desk", max_tokens=8, seed=1)
        .choices[0]
        .text
        for s in (a, b)
    ]
    assert same[0] == same[1]  # one model, the same answer from both


def test_a_document_ingested_through_a_is_downloaded_and_cited_through_b(
    pair: tuple[Server, Server, Path | None],
) -> None:
    a, b, shared = pair
    org = make_org(a, "Knowledge")
    kb = a.api("POST", "/api/kb", key=org.admin_key, json={"name": "手册"})
    assert kb.status_code in (200, 201), kb.text
    kb_id = kb.json()["id"]
    added = a.api(
        "POST",
        f"/api/kb/{kb_id}/documents",
        key=org.admin_key,
        files={"files": ("desk.txt", b"The help desk is on the third floor.\n")},
    )
    assert added.status_code in (200, 201, 202), added.text
    docs = b.api("GET", f"/api/kb/{kb_id}/documents", key=org.admin_key).json()["data"]
    doc_id = docs[0]["id"]
    # the ingestion job ran on either instance and read the source from the shared store
    deadline = time.monotonic() + 300
    while docs[0]["status"] in ("queued", "indexing") and time.monotonic() < deadline:
        time.sleep(0.5)
        docs = b.api("GET", f"/api/kb/{kb_id}/documents", key=org.admin_key).json()["data"]
    assert docs[0]["status"] == "ready", docs
    got = b.api("GET", f"/api/kb/{kb_id}/documents/{doc_id}/content", key=org.admin_key)
    assert got.status_code == 200 and got.content == b"The help desk is on the third floor.\n"
    if shared is not None:
        stored = shared / "knowledge" / org.id / kb_id / "versions" / doc_id  # by content hash
        assert (
            stored / hashlib.sha256(b"The help desk is on the third floor.\n").hexdigest()
        ).is_file()
    # the knowledge base deleted through B: its sources leave the shared store
    assert b.api("DELETE", f"/api/kb/{kb_id}", key=org.admin_key).status_code == 200
    if shared is not None:
        assert not (shared / "knowledge" / org.id / kb_id).exists()
