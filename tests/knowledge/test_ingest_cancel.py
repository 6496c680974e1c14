"""A cancelled ingestion closes its documents at once: what it stored turns ready, what it did
not reach fails saying why. Found by probing a live server: after a cancel, 60 documents sat
``indexing`` for a minute and the sweeper then failed every one ("upload it again"), about 50
already stored among them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from aigc.infra.jobs import JobCancelled
from aigc.knowledge import ingest
from aigc.knowledge.tables import KbDocument

from .conftest import Sandbox

FILES = {
    "考勤制度.txt": "员工每天九点前打卡，迟到三次扣除当月全勤奖。".encode(),
    "报销制度.txt": "出差伙食补贴每天一百元，住宿按城市分级报销。".encode(),
}


def _stop_after_first_document(fraction: float, message: str, *_named: object) -> None:
    if message.startswith("document 1 of"):
        raise JobCancelled("job_x")


def _statuses(sandbox: Sandbox) -> dict[str, tuple[str, str | None, str | None]]:
    with sandbox.db.session() as s:
        found = s.scalars(select(KbDocument))
        return {d.filename: (d.status, d.error, d.error_code) for d in found}


@pytest.mark.parametrize("asked", [True, False])
def test_a_cancel_keeps_what_was_stored_and_fails_the_rest_now(
    sandbox: Sandbox, asked: bool
) -> None:
    kb_id = sandbox.kb(sandbox.admin_a, "制度", dense=False)
    doc_ids = sandbox.add(sandbox.admin_a, kb_id, FILES)
    ctx: Any = SimpleNamespace(
        data_dir=sandbox.settings.data_dir,
        db=sandbox.db,
        tenant_id="t_a",
        params={"kb_id": kb_id, "document_ids": doc_ids},
        progress=_stop_after_first_document,
        cancel_requested=lambda: asked,
    )
    with pytest.raises(JobCancelled):
        ingest.run_ingest_job(ctx)
    statuses = _statuses(sandbox)
    if asked:
        assert statuses["考勤制度.txt"] == ("ready", None, None)
        # coded, so the console says it in the reader's language
        assert statuses["报销制度.txt"] == ("failed", ingest._CANCELLED, "indexing_cancelled")
    else:  # the server stopping: the job goes back to the queue and resumes, nothing closed
        assert {status for status, _, _ in statuses.values()} == {"indexing"}
