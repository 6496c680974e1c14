"""FastAPI dependencies: the services of this process and the authenticated caller."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from aigc.gateway.auth import Principal, bearer_token
from aigc.gateway.context import RequestRecord
from aigc.gateway.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def record(request: Request) -> RequestRecord:
    return request.state.record  # type: ignore[no-any-return]


async def principal(request: Request) -> Principal:
    """Authenticate the bearer key (cached briefly) and remember who called, for the audit."""
    svc = services(request)
    secret = bearer_token(request.headers.get("authorization"))
    caller = await run_in_threadpool(svc.authenticate, secret)
    record(request).principal = caller
    return caller
