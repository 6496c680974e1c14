"""Every error leaves the server in OpenAI's envelope with the right status; never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aigc.errors import APIError, InvalidRequest, NotFound, Overloaded, RateLimited
from aigc.guard.store import StoredPolicyUnusable
from aigc.infra import metrics

log = logging.getLogger("aigc.errors")


def error_response(error: APIError) -> JSONResponse:
    if isinstance(error, RateLimited):
        metrics.RATE_LIMITED.labels(error.code or "rate_limit").inc()
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _param(loc: tuple[Any, ...]) -> str | None:
    """('body', 'messages', 0, 'role') → 'messages[0].role'. Pydantic names the member of a
    union it tried (``list[ContentPart]``); that is no field of the request, so it is left out."""
    parts = [p for p in loc if p not in ("body", "query", "path") and "[" not in str(p)]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        return InvalidRequest(
            "We could not parse the JSON body of your request", code="invalid_json"
        )
    param = _param(tuple(first.get("loc", ())))
    if param is None:  # the body as a whole: not JSON (e.g. text/plain), or not an object
        return InvalidRequest(
            "The request body must be a JSON object, sent with 'Content-Type: application/json'",
            code="invalid_body",
        )
    if first.get("type") == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'", param=param, code="missing_required_parameter"
        )
    message = first.get("msg", "Invalid value")
    return InvalidRequest(
        f"Invalid value for '{param}': {message}", param=param, code="invalid_value"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StoredPolicyUnusable)
    async def _policy_unusable(_: Request, exc: StoredPolicyUnusable) -> JSONResponse:
        log.error("guard policy %r no longer loads: %s", exc.name, "; ".join(exc.problems))
        return error_response(
            Overloaded(
                f"The organization's guard policy '{exc.name}' can no longer be loaded "
                f"({'; '.join(exc.problems)}); an administrator must correct or disable it",
                code="guard_policy_invalid",
            )
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, APIError):  # e.g. the body limit hit while FastAPI read it
            return error_response(exc.__cause__)
        if exc.status_code == 404:
            return error_response(NotFound("Unknown URL: no such endpoint", code="unknown_url"))
        error = APIError(str(exc.detail), headers=dict(exc.headers or {}))  # e.g. 405's Allow
        error.status = exc.status_code
        error.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        record = getattr(request.state, "record", None)
        rid = record.request_id if record else "-"
        return error_response(
            APIError(f"The server had an error processing your request (request id {rid})")
        )
