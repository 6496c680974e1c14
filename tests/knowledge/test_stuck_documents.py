"""A refused upload writes nothing, and no document waits forever without a job.

Issue 14, defect 10: a viewer with a write grant uploaded, got 403 (the job submit needed the
member role), and the document row stayed ``queued`` with no job; re-uploading the same file
did not unstick it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aigc.access import Principal
from aigc.errors import PermissionDenied
from aigc.infra import jobs
from aigc.infra.schema import Job, User
from aigc.knowledge import ingest
from aigc.knowledge.ingest import add_document, recover_stuck_documents
from aigc.knowledge.tables import KbDocument

from .conftest import Sandbox

TEXT = b"# Leave\n\nAnnual leave is requested through the HR portal two weeks ahead."


def _viewer_with_write(sandbox: Sandbox) -> tuple[Principal, str]:
    with sandbox.db.session() as s:
        s.add(User(id="u_view", tenant_id="t_a", username="v", password_hash="x", role="viewer"))
    viewer = Principal(tenant_id="t_a", role="viewer", key_id="k_v", user_id="u_view")
    grants = [{"user": "u_view", "access": "write"}]
    return viewer, sandbox.kb(sandbox.admin_a, "hr", access=grants, dense=False)


def _documents(sandbox: Sandbox) -> list[KbDocument]:
    with sandbox.db.session() as s:
        return list(s.scalars(select(KbDocument)))


def _stuck_document(sandbox: Sandbox, kb: str, age_s: float = 120) -> str:
    """A ``queued`` row with no job, as the bug left them, last touched ``age_s`` ago."""
    with sandbox.db.session() as s:
        doc = add_document(s, sandbox.settings, sandbox.admin_a, kb, "leave.md", [TEXT]).document
        doc.updated_at = doc.updated_at - timedelta(seconds=age_s)
        return doc.id


def _ingest_jobs(sandbox: Sandbox) -> list[Job]:
    with sandbox.db.session() as s:
        return list(s.scalars(select(Job).where(Job.kind == ingest.JOB_KIND)))


def test_a_viewer_with_a_write_grant_is_refused_before_anything_is_written(
    sandbox: Sandbox,
) -> None:
    viewer, kb = _viewer_with_write(sandbox)
    with sandbox.db.session() as s, pytest.raises(PermissionDenied):
        add_document(s, sandbox.settings, viewer, kb, "leave.md", [TEXT])
    assert _documents(sandbox) == []
    folder = ingest.kb_dir(sandbox.settings.data_dir, "t_a", kb) / "documents"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_stuck_queued_document_is_queued_again_and_indexed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    kb = sandbox.kb(sandbox.admin_a, "hr", dense=False)
    doc_id = _stuck_document(sandbox, kb)
    assert recover_stuck_documents(sandbox.db) == {"requeued": 1, "failed": 0}
    (job,) = _ingest_jobs(sandbox)
    assert job.status == "queued" and job.params["document_ids"] == [doc_id]
    assert job.params["kb_id"] == kb and job.tenant_id == "t_a"
    # A second sweep finds the live job and leaves the document alone.
    assert recover_stuck_documents(sandbox.db, older_than_s=0) == {"requeued": 0, "failed": 0}
    runner = jobs.JobRunner(sandbox.db, sandbox.settings.data_dir, "w1")
    assert runner.run_once()
    (doc,) = _documents(sandbox)
    assert doc.status == "ready" and doc.chunk_count >= 1


def test_a_fresh_queued_document_is_left_to_its_uploader(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "hr", dense=False)
    _stuck_document(sandbox, kb, age_s=0)
    assert recover_stuck_documents(sandbox.db) == {"requeued": 0, "failed": 0}
    assert _ingest_jobs(sandbox) == []


def test_a_document_whose_job_was_cancelled_fails_with_a_reason(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "hr", dense=False)
    doc_id = _stuck_document(sandbox, kb)
    assert recover_stuck_documents(sandbox.db)["requeued"] == 1
    with sandbox.db.session() as s:  # the job was submitted after the document was queued
        doc = s.get(KbDocument, doc_id)
        assert doc is not None
        doc.updated_at = doc.updated_at - timedelta(seconds=120)
        (job,) = s.scalars(select(Job))
        job.status, job.finished_at = "cancelled", doc.updated_at + timedelta(seconds=2)
        job.created_at = doc.updated_at + timedelta(seconds=1)
    assert recover_stuck_documents(sandbox.db) == {"requeued": 0, "failed": 1}
    (doc,) = _documents(sandbox)
    assert doc.status == "failed" and "upload it again" in (doc.error or "")
    assert doc.error_code == "indexing_stopped"  # the console says it in the reader's language


def test_re_uploading_a_stuck_document_queues_it(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "hr", dense=False)
    doc_id = _stuck_document(sandbox, kb, age_s=0)
    with sandbox.db.session() as s:
        again = add_document(s, sandbox.settings, sandbox.admin_a, kb, "leave.md", [TEXT])
        assert again.changed and again.document.id == doc_id
        job = ingest.queue_documents(s, sandbox.admin_a, kb, [doc_id])
        assert job is not None
    with sandbox.db.session() as s:  # while its job is live, the same bytes change nothing
        assert not add_document(
            s, sandbox.settings, sandbox.admin_a, kb, "leave.md", [TEXT]
        ).changed


def test_the_runner_sweeps_at_start(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "hr", dense=False)
    _stuck_document(sandbox, kb)
    runner = jobs.JobRunner(sandbox.db, sandbox.settings.data_dir, "w2", poll_interval_s=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _documents(sandbox)[0].status != "ready":
            time.sleep(0.05)
    finally:
        runner.stop()
    assert _documents(sandbox)[0].status == "ready"
