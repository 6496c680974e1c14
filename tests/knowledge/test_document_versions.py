"""A new version of a document never destroys the good one before it is indexed itself.

Found on a live server: re-uploading 大写.TXT with unreadable bytes turned the document
``failed``, took its chunks out of search and made GET …/content serve the binary; and a
search while 考勤制度.txt was re-indexed did not find it at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aigc.access import Principal
from aigc.config import Settings
from aigc.infra.db import Database
from aigc.infra.schema import Job
from aigc.infra.storage import storage_for
from aigc.knowledge import ingest
from aigc.knowledge.retrieve import search
from aigc.knowledge.tables import KbDocument
from tests.s3_server import make_bucket, s3_settings

from .conftest import Sandbox

GOOD = "大写扩展名的文本文件，内容关于报销。".encode()
UNREADABLE = bytes(range(256)) * 4
OLD = "考勤制度：员工上班打卡时间为早上九点。".encode()
NEW = "考勤制度：实行弹性工作制，核心时段为十点至四点。".encode()


@pytest.fixture
def box(tenant_db: Database, tmp_path: Path) -> Iterator[Sandbox]:
    """The knowledge sandbox on each database the tests run on (SQLite and PostgreSQL)."""
    yield Sandbox(
        tenant_db,
        Settings(data_dir=tmp_path / "data"),
        Principal(tenant_id="t_a", role="admin", key_id="key_a"),
        Principal(tenant_id="t_b", role="admin", key_id="key_b"),
    )


def _document(box: Sandbox, name: str) -> KbDocument:
    with box.db.session() as s:
        doc = s.scalar(select(KbDocument).where(KbDocument.filename == name))
        assert doc is not None
        s.expunge(doc)
        return doc


def _found(box: Sandbox, kb: str, query: str) -> list[tuple[str, str]]:
    with box.db.session() as s:
        hits = search(s, box.settings, box.admin_a, [kb], query)
    return [(h.filename, h.text) for h in hits]


def _served(box: Sandbox, doc: KbDocument) -> bytes:
    """What GET …/content sends: the bytes under ``document_key``, of ``served_bytes``."""
    data = storage_for(box.settings).read_bytes(ingest.document_key(doc))
    assert len(data) == ingest.served_bytes(doc)
    return data


def _versions(box: Sandbox, doc: KbDocument) -> list[str]:
    found = storage_for(box.settings).list(f"knowledge/t_a/{doc.kb_id}/versions/{doc.id}/")
    return [info.key.rsplit("/", 1)[1] for info in found]


def test_an_unreadable_new_version_keeps_the_good_one(box: Sandbox) -> None:
    kb = box.kb(box.admin_a, "versions", dense=False)
    assert box.ingest(box.admin_a, kb, {"大写.TXT": GOOD})["indexed"] == 1
    assert _found(box, kb, "报销")[0][0] == "大写.TXT"

    result = box.ingest(box.admin_a, kb, {"大写.TXT": UNREADABLE})

    doc = _document(box, "大写.TXT")
    assert result["failed"] == 1 and result["documents"] == {doc.id: "failed"}
    assert doc.status == "ready" and doc.error is None
    assert doc.sha256 == doc.indexed_sha256 == hashlib.sha256(GOOD).hexdigest()
    assert doc.bytes == len(GOOD) and doc.previous is None
    view = ingest.document_view(doc)
    assert (
        view["update_error"] is not None
        and "previous one is still searched" in (view["update_error"])
    )
    assert view["update_error_code"] == "text_undecodable"  # the console says it in Chinese
    assert _found(box, kb, "报销") == [("大写.TXT", GOOD.decode())]
    assert _served(box, doc) == GOOD
    assert _versions(box, doc) == [hashlib.sha256(GOOD).hexdigest()]  # the bad one is gone
    # the same bad bytes again are tried again, not taken for the version kept
    assert box.add(box.admin_a, kb, {"大写.TXT": UNREADABLE}) == [doc.id]


def test_a_new_version_replaces_the_old_once_indexed_and_not_before(box: Sandbox) -> None:
    kb = box.kb(box.admin_a, "versions", dense=False)
    assert box.ingest(box.admin_a, kb, {"考勤制度.txt": OLD})["indexed"] == 1

    changed = box.add(box.admin_a, kb, {"考勤制度.txt": NEW})  # queued, not yet indexed

    doc = _document(box, "考勤制度.txt")
    assert changed == [doc.id] and doc.status == "queued"
    assert _found(box, kb, "上班打卡时间") == [("考勤制度.txt", OLD.decode())]
    assert _served(box, doc) == OLD
    assert ingest.document_view(doc)["sha256"] == hashlib.sha256(NEW).hexdigest()

    result = ingest.ingest_documents(box.db, box.settings, "t_a", kb, changed)

    assert result["indexed"] == 1
    doc = _document(box, "考勤制度.txt")
    assert doc.status == "ready" and doc.previous is None and doc.update_error is None
    assert doc.update_error_code is None
    assert _found(box, kb, "弹性工作制 核心时段") == [("考勤制度.txt", NEW.decode())]
    assert all(text != OLD.decode() for _, text in _found(box, kb, "上班打卡时间"))
    assert _served(box, doc) == NEW
    assert _versions(box, doc) == [hashlib.sha256(NEW).hexdigest()]  # the old file is deleted


def _stopped_two_minutes_ago(box: Sandbox, kb: str, doc_id: str) -> None:
    """The document waits since two minutes ago, and a job that named it was cancelled since:
    what the recovery sweeper settles."""
    with box.db.session() as s:
        doc = s.get(KbDocument, doc_id)
        assert doc is not None
        doc.updated_at = doc.updated_at - timedelta(seconds=120)
        s.add(
            Job(
                id="job_stopped",
                tenant_id="t_a",
                kind=ingest.JOB_KIND,
                status="cancelled",
                params={"kb_id": kb, "document_ids": [doc_id]},
                created_at=doc.updated_at + timedelta(seconds=1),
                finished_at=doc.updated_at + timedelta(seconds=2),
            )
        )


def test_a_stopped_job_does_not_fail_a_document_with_a_good_version(box: Sandbox) -> None:
    """The recovery sweeper fails what a finished job left waiting: here it keeps the good
    version in place instead."""
    kb = box.kb(box.admin_a, "versions", dense=False)
    assert box.ingest(box.admin_a, kb, {"考勤制度.txt": OLD})["indexed"] == 1
    (doc_id,) = box.add(box.admin_a, kb, {"考勤制度.txt": NEW})
    _stopped_two_minutes_ago(box, kb, doc_id)

    assert ingest.recover_stuck_documents(box.db) == {"requeued": 0, "failed": 1}

    doc = _document(box, "考勤制度.txt")
    assert doc.status == "ready" and doc.sha256 == hashlib.sha256(OLD).hexdigest()
    assert "upload it again" in (doc.update_error or "")
    assert doc.update_error_code == "indexing_stopped"
    assert _found(box, kb, "上班打卡时间") == [("考勤制度.txt", OLD.decode())]
    assert _served(box, doc) == OLD


def test_deleting_a_document_leaves_no_copy_of_any_version(
    tenant_db: Database, tmp_path: Path, moto_endpoint: str
) -> None:
    """With an S3 store the parser reads a copy fetched into data_dir/cache/knowledge. A new
    version that a stopped job had fetched is left behind by the recovery (the old version
    stays searched), and deleting the document then removed that version from the store but
    kept its cached copy: the deleted document's text stayed on the instance's disk (found in
    review: delete_document dropped the named versions, then the whole folder again, and only
    the named versions' copies)."""
    bucket = f"kb-{os.urandom(4).hex()}"
    make_bucket(moto_endpoint, bucket)
    box = Sandbox(
        tenant_db,
        s3_settings(tmp_path / "data", moto_endpoint, bucket),
        Principal(tenant_id="t_a", role="admin", key_id="key_a"),
        Principal(tenant_id="t_b", role="admin", key_id="key_b"),
    )
    kb = box.kb(box.admin_a, "versions", dense=False)
    assert box.ingest(box.admin_a, kb, {"考勤制度.txt": OLD})["indexed"] == 1
    (doc_id,) = box.add(box.admin_a, kb, {"考勤制度.txt": NEW})
    claimed = ingest._claim(box.db, box.settings, "t_a", kb, doc_id)  # a job fetched it…
    assert isinstance(claimed, ingest._Claimed) and claimed.path.read_bytes() == NEW
    _stopped_two_minutes_ago(box, kb, doc_id)  # …and was stopped before storing it
    assert ingest.recover_stuck_documents(box.db) == {"requeued": 0, "failed": 1}
    doc = _document(box, "考勤制度.txt")
    assert _served(box, doc) == OLD and claimed.path.exists()

    ingest.delete_document(box.db, box.settings, box.admin_a, kb, doc_id)

    cache = box.settings.data_dir / "cache" / "knowledge"
    assert [p.name for p in cache.iterdir() if doc_id in p.name] == []
    assert storage_for(box.settings).list(f"knowledge/t_a/{kb}/") == []
    assert _found(box, kb, "上班打卡时间") == []
