"""FastAPI dependencies: the services of this process and the authenticated caller.

They are ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, and
that hop costs more than these lookups.
"""

from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aigc.access import Principal
from aigc.gateway.auth import bearer_token
from aigc.gateway.context import RequestRecord
from aigc.gateway.services import Services


async def services(request: Request) -> Services:
    return request.app.state.services


async def record(request: Request) -> RequestRecord:
    return request.state.record


# Declares the scheme in the OpenAPI document (every route that takes ``principal`` lists it);
# the header itself is read by ``bearer_token``, whose 401s say what is wrong with it.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key, or a console session: 'Authorization: Bearer sk-aigc-...'",
)


async def principal(
    request: Request, _declared: HTTPAuthorizationCredentials | None = Security(BEARER)
) -> Principal:
    """Authenticate the bearer key (cached briefly) and remember who called, for the audit."""
    svc: Services = request.app.state.services
    secret = bearer_token(request.headers.get("authorization"))
    caller = await svc.caller(secret)
    request.state.record.principal = caller
    return caller
