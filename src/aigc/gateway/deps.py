"""FastAPI dependencies: the services of this process and the authenticated caller.

They are ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, and
that hop costs more than these lookups.
"""

from __future__ import annotations

from fastapi import Request

from aigc.access import Principal
from aigc.gateway.auth import bearer_token
from aigc.gateway.context import RequestRecord
from aigc.gateway.services import Services


async def services(request: Request) -> Services:
    return request.app.state.services


async def record(request: Request) -> RequestRecord:
    return request.state.record


async def principal(request: Request) -> Principal:
    """Authenticate the bearer key (cached briefly) and remember who called, for the audit."""
    svc: Services = request.app.state.services
    secret = bearer_token(request.headers.get("authorization"))
    caller = await svc.caller(secret)
    request.state.record.principal = caller
    return caller
