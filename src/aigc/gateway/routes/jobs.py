"""Jobs under /api/jobs: list, look at and cancel long-running work.

Jobs are submitted by the feature endpoints that own them (training, ingestion), so there is
no generic submit route here. Role and tenant checks live in ``aigc.infra.jobs``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from aigc.gateway.auth import Principal
from aigc.gateway.deps import principal, services
from aigc.gateway.services import Services
from aigc.infra import jobs

router = APIRouter(prefix="/api", tags=["jobs"])


@router.get("/jobs")
def list_jobs(
    status: str | None = None,
    kind: str | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        data = [jobs.job_view(j) for j in jobs.list_jobs(s, caller, status, kind)]
    return {"object": "list", "data": data}


@router.get("/jobs/{job_id}")
def get_job(
    job_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return jobs.job_view(jobs.get_job(s, caller, job_id))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(
    job_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return jobs.job_view(jobs.cancel_job(s, caller, job_id))
