"""Jobs under /api/jobs: list, look at and cancel long-running work.

Jobs are submitted by the feature endpoints that own them (training, ingestion), so there is
no generic submit route here. Role and tenant checks live in ``aigc.infra.jobs``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.gateway.deps import principal, services
from aigc.gateway.openapi import errors
from aigc.gateway.services import Services
from aigc.infra import jobs
from aigc.infra.schema import Job, ModelRecord

router = APIRouter(prefix="/api", tags=["jobs"])


@router.get("/jobs", responses=errors(400, 401, 403))
def list_jobs(
    status: jobs.Status | None = None,
    kind: str | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        data = _views(s, jobs.list_jobs(s, caller, status, kind))
    return {"object": "list", "data": data}


@router.get("/jobs/{job_id}", responses=errors(401, 403, 404))
def get_job(
    job_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return _views(s, [jobs.get_job(s, caller, job_id)])[0]


@router.post("/jobs/{job_id}/cancel", responses=errors(401, 403, 404))
def cancel_job(
    job_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return _views(s, [jobs.cancel_job(s, caller, job_id)])[0]


def _views(s: Session, found: list[Job]) -> list[dict[str, Any]]:
    """Job views; a training job also names its model (its params hold only the record id)."""
    ids = {j.params.get("model_record_id") for j in found if isinstance(j.params, dict)} - {None}
    names = dict(
        s.execute(select(ModelRecord.id, ModelRecord.name).where(ModelRecord.id.in_(ids))).all()
        if ids
        else []
    )
    views = []
    for job in found:
        view = jobs.job_view(job)
        record_id = (job.params or {}).get("model_record_id")
        if record_id is not None:
            view["model"] = names.get(record_id)  # None once the model was deleted
        views.append(view)
    return views
