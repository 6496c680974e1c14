"""Operations endpoints: liveness, readiness, Prometheus metrics. No authentication, no audit."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from aigc.gateway.deps import services
from aigc.gateway.openapi import content
from aigc.gateway.services import Services

router = APIRouter(tags=["operations"])


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]  # each part: "ok" or "error: <kind>"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers: it is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"model": Readiness, "description": "Every part answers"},
        503: {"model": Readiness, "description": "A part does not answer (see checks)"},
    },
)
async def readyz(svc: Services = Depends(services)) -> Response:
    """Ready to serve: the database answers and the shared limiter (if any) answers."""
    checks: dict[str, str] = {}

    def db_ok() -> None:
        with svc.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(db_ok)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await svc.limiter.ping()
        checks["limiter"] = "ok"
    except Exception as exc:
        checks["limiter"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses=content("text/plain", "Prometheus' text exposition format"),
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
