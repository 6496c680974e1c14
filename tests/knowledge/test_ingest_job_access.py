"""An ingestion job belongs to its knowledge base: who may not read the base neither sees nor
stops its jobs (their messages name the files), and deleting the base cancels them.

Found by probing a live server: a member with no access to an admins-only knowledge base read
"document 26 of 60: 裁员名单_25.txt indexed" through /api/jobs and cancelled the job; deleting a
base mid-ingestion failed its job with SQLAlchemy's message, the SQL and a chunk's text in it.
"""

from __future__ import annotations

import pytest

from aigc.access import Principal
from aigc.errors import NotFound, PermissionDenied
from aigc.infra import jobs
from aigc.infra.schema import User
from aigc.knowledge import bases, ingest

from .conftest import Sandbox

TEXT = "拟裁员工名单，仅限人事负责人查看。".encode()


def _member(sandbox: Sandbox, user_id: str) -> Principal:
    with sandbox.db.session() as s:
        s.add(User(id=user_id, tenant_id="t_a", username=user_id, password_hash="x", role="member"))
    return Principal(tenant_id="t_a", role="member", key_id=f"k_{user_id}", user_id=user_id)


def _queued_job(sandbox: Sandbox, kb_id: str) -> str:
    changed = sandbox.add(sandbox.admin_a, kb_id, {"裁员名单.txt": TEXT})
    with sandbox.db.session() as s:
        job = ingest.queue_documents(s, sandbox.admin_a, kb_id, changed)
        assert job is not None
        return job.id


def test_a_member_who_may_not_read_the_base_neither_sees_nor_cancels_its_job(
    sandbox: Sandbox,
) -> None:
    outsider, reader = _member(sandbox, "u_out"), _member(sandbox, "u_read")
    secret = sandbox.kb(
        sandbox.admin_a,
        "高管薪酬（机密）",
        access=[{"role": "admin", "access": "manage"}, {"user": "u_read", "access": "read"}],
        dense=False,
    )
    job_id = _queued_job(sandbox, secret)
    with sandbox.db.session() as s:
        assert job_id not in [j.id for j in jobs.list_jobs(s, outsider)]
        with pytest.raises(NotFound):
            jobs.get_job(s, outsider, job_id)
        with pytest.raises(NotFound):
            jobs.cancel_job(s, outsider, job_id)
        # who may read the base sees the job, and may not stop what they may not change
        assert job_id in [j.id for j in jobs.list_jobs(s, reader)]
        assert jobs.get_job(s, reader, job_id).status == "queued"
        with pytest.raises(PermissionDenied):
            jobs.cancel_job(s, reader, job_id)
        assert job_id in [j.id for j in jobs.list_jobs(s, sandbox.admin_a)]
    # a base every member may write to: its jobs are every member's, as before
    open_kb = sandbox.kb(sandbox.admin_a, "公告", dense=False)
    open_job = _queued_job(sandbox, open_kb)
    with sandbox.db.session() as s:
        assert jobs.cancel_job(s, outsider, open_job).status == "cancelled"


def test_deleting_a_base_cancels_its_pending_jobs_with_the_reason(sandbox: Sandbox) -> None:
    kb_id = sandbox.kb(sandbox.admin_a, "删除测试", dense=False)
    other = sandbox.kb(sandbox.admin_a, "保留", dense=False)
    job_id, kept = _queued_job(sandbox, kb_id), _queued_job(sandbox, other)
    with sandbox.db.session() as s:
        bases.delete_kb(s, sandbox.admin_a, kb_id)
        assert ingest.cancel_jobs_of(s, "t_a", kb_id) == 1
    with sandbox.db.session() as s:
        ended = jobs.get_job(s, sandbox.admin_a, job_id)  # an admin still sees it
        assert ended.status == "cancelled" and ended.error == "Its knowledge base was deleted"
        assert jobs.get_job(s, sandbox.admin_a, kept).status == "queued"
