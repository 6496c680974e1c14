"""Every error leaves the server in OpenAI's envelope with the right status; never a bare 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import DEFAULT_MAX_HEADER_SIZE
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from aigc.errors import (
    APIError,
    InvalidRequest,
    NotFound,
    Overloaded,
    RateLimited,
    problem_detail,
    refused,
)
from aigc.gateway.unmatched import wrong_method
from aigc.guard.store import StoredPolicyUnusable
from aigc.infra import metrics

log = logging.getLogger("aigc.errors")

DATABASE_RETRY_AFTER_S = 5


def database_unavailable(exc: BaseException) -> Overloaded | None:
    """A 503 the client may retry when ``exc`` says the database is out of reach (restarting,
    unreachable, every pooled connection taken, SQLite's file locked past its busy timeout),
    not that the request was wrong; None for any other error. The pool's pre-ping reconnects
    once the server is back, so these pass without a restart."""
    if not (
        isinstance(exc, (OperationalError, PoolTimeout))
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
    ):
        return None
    return refused(
        Overloaded,
        "database_unavailable",
        "The database is not answering right now; retry shortly",
        code="database_unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


# A validator's problems by type and values (``errors.problem_detail``), as JSON in a header:
# the body stays OpenAI's envelope of four fields, which clients check.
DETAILS_HEADER = "x-error-details"
_MAX_DETAILS = 4000  # characters of the header; problems past it are left out


def _details_header(details: list[dict[str, Any]]) -> dict[str, str]:
    for count in range(len(details), 0, -1):
        value = json.dumps(details[:count], ensure_ascii=True, separators=(",", ":"))
        if len(value) <= _MAX_DETAILS:
            return {DETAILS_HEADER: value}
    return {}


def error_headers(error: APIError) -> dict[str, str]:
    """The headers of ``error``'s answer: its own, and its kind and values (x-error-details)."""
    return error.headers | (_details_header(error.details) if error.details else {})


def error_response(error: APIError) -> JSONResponse:
    if isinstance(error, RateLimited):
        metrics.RATE_LIMITED.labels(error.code or "rate_limit").inc()
    return JSONResponse(error.body(), status_code=error.status, headers=error_headers(error))


def _param(loc: tuple[Any, ...], body: Any = None) -> str | None:
    """('body', 'messages', 0, 'role') → 'messages[0].role'. Pydantic puts the member of a union
    it tried into the path: a type ('str', 'list[str]', 'int') or a tagged union's tag ('text'
    in ('input', 0, 'text', 'text') for {"type": "text"}). Those are no field of the request:
    a name is left out where the body, walked along the path, has no such key (and more
    follows: a missing field is the last name) or is no object at all."""
    # The first part names where the value came from; a field may be named "query" too
    # (a knowledge-base search's), so only that first part goes.
    names = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    node, out = body, ""
    for at, part in enumerate(names):
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            continue
        if "[" in str(part):  # list[str], tagged-union[…]
            continue
        if body is not None:
            if not isinstance(node, Mapping):  # a JSON object or a form's fields
                continue  # a type tried on a value that is no object ('str' on 123)
            if part not in node:
                if at < len(names) - 1:
                    continue  # a tagged union's tag: its fields follow
            else:
                node = node[part]
        out += f".{part}" if out else str(part)
    return out or None


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    # Of a union's alternatives, the one that got furthest is what the caller meant
    # ({"input": [{"type": "text"}]} is a text part without its text, not a wrong string);
    # at equal depth, an error about the value ahead of "not of this type" (a part whose
    # type is 'video' is an unknown tag, not a wrong string).
    errors = exc.errors()
    first = max(
        errors,
        key=lambda e: (len(e.get("loc", ())), not str(e.get("type", "")).endswith("_type")),
    )
    if any(e.get("type") == "json_invalid" for e in errors):
        return InvalidRequest(
            "We could not parse the JSON body of your request", code="invalid_json"
        )
    param = _param(tuple(first.get("loc", ())), exc.body)
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
        f"Invalid value for '{param}': {message}",
        param=param,
        code="invalid_value",
        details=[problem_detail(param, first)],
    )


def multipart_error(exc: StarletteHTTPException) -> InvalidRequest | None:
    """Starlette answers every multipart body its parser gives up on with "Invalid multipart
    data."; the parser's own reason (a header line over its limit, as a file name of thousands
    of characters makes, or a broken boundary) is on the exception's chain, and says what to
    mend."""
    context = exc.__context__
    if not isinstance(context, MultiPartException) or not isinstance(
        context.__cause__, FormParserError
    ):
        return None
    reason = str(context.__cause__).rstrip(".")
    if "header size" in reason:
        reason += (
            f": a line of a part's headers, its file name included, may hold at most "
            f"{DEFAULT_MAX_HEADER_SIZE} bytes"
        )
    return InvalidRequest(
        f"We could not read the multipart body of your request: {reason}",
        code="invalid_multipart",
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StoredPolicyUnusable)
    async def _policy_unusable(_: Request, exc: StoredPolicyUnusable) -> JSONResponse:
        log.error("guard policy %r no longer loads: %s", exc.name, "; ".join(exc.problems))
        return error_response(
            refused(
                Overloaded,
                "guard_policy_unusable",
                "The organization's guard policy '{name}' can no longer be loaded ({problems}); "
                "an administrator must correct or disable it",
                code="guard_policy_invalid",
                name=exc.name,
                problems="; ".join(exc.problems),
            )
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, APIError):  # e.g. the body limit hit while FastAPI read it
            return error_response(exc.__cause__)
        if (unreadable := multipart_error(exc)) is not None:
            return error_response(unreadable)
        if exc.status_code == 404:
            return error_response(NotFound("Unknown URL: no such endpoint", code="unknown_url"))
        if exc.status_code == 405 and (exc.headers or {}).get("Allow"):  # as without a console
            return error_response(wrong_method(request.method, (exc.headers or {})["Allow"]))
        error = APIError(str(exc.detail), headers=dict(exc.headers or {}))  # e.g. 405's Allow
        error.status = exc.status_code
        error.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if (unavailable := database_unavailable(exc)) is not None:
            log.error("database unavailable on %s: %s", request.url.path, type(exc).__name__)
            return error_response(unavailable)
        log.exception("unhandled error on %s", request.url.path)
        record = getattr(request.state, "record", None)
        rid = record.request_id if record else "-"
        return error_response(
            APIError(f"The server had an error processing your request (request id {rid})")
        )
