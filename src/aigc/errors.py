"""One exception hierarchy, mapped in one place to OpenAI's error envelope and status.

The bottom layer: every package raises these, so this module imports nothing of aigc; the
gateway turns them into responses (`gateway/error_handlers.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar


class APIError(Exception):
    """An error the caller should see: status, OpenAI ``type`` and ``code``, optional ``param``."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def problem_detail(loc: str | None, error: Mapping[str, Any]) -> dict[str, Any]:
    """One of a validator's problems (pydantic's error: its ``type``, ``ctx`` and ``msg``) as
    the API sends it beside the English message (in the ``x-error-details`` header: the body
    keeps OpenAI's four fields): ``loc`` (where, as the message names it), the stable ``type``
    and the ``ctx`` values (a limit, the expected values) as JSON, so a client such as the
    console can say it in its reader's language without reading the English."""
    ctx = {
        str(key): value
        if isinstance(value, (str, int, float, bool)) or value is None
        else str(value)
        for key, value in (error.get("ctx") or {}).items()
    }
    return {
        "loc": loc,
        "type": str(error.get("type", "")),
        "ctx": ctx,
        "message": error.get("msg", ""),
    }


def value_problem(kind: str, template: str, **ctx: str | int | float) -> Exception:
    """A validator's own refusal (raise it where a ``ValueError`` would be) with a stable
    ``kind`` and the values it names, so ``problem_detail`` sends them and a client says it
    in its reader's language. The English reads as a ``ValueError``'s does: "Value error, "
    and ``template`` with ``{name}`` filled from ``ctx``."""
    from pydantic_core import PydanticCustomError

    return PydanticCustomError(kind, "Value error, " + template, ctx)


class InvalidRequest(APIError):
    status = 400
    type = "invalid_request_error"


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_E = TypeVar("_E", bound=APIError)


def refused(
    cls: type[_E],
    kind: str,
    template: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **ctx: str | int | float | None,
) -> _E:
    """An ``APIError`` of class ``cls`` (a 404, 409, 403, …) whose reason has a stable ``kind``
    and values beside its English: ``template`` with ``{name}`` filled from ``ctx`` (other
    braces kept); the kind and values go in ``details`` (``problem_detail``, sent in
    x-error-details), so a client says it in its reader's language. ``code`` defaults to the
    class's OpenAI code; ``headers`` go with the answer (Retry-After, Allow)."""
    message, detail = _reason(kind, template, param, ctx)
    return cls(message, param=param, code=code, headers=headers, details=[detail])


def _reason(
    kind: str, template: str, param: str | None, ctx: Mapping[str, str | int | float | None]
) -> tuple[str, dict[str, Any]]:
    """``refused``'s English and its detail of kind and values."""
    message = _PLACEHOLDER.sub(
        lambda m: str(ctx[m.group(1)]) if m.group(1) in ctx else m.group(0), template
    )
    return message, problem_detail(param, {"type": kind, "ctx": ctx, "msg": message})


def refused_value(
    kind: str, template: str, *, param: str, code: str = "invalid_value", **ctx: str | int | float
) -> InvalidRequest:
    """A 400 for a request value refused by the code that reads it (not by a validator), as
    ``refused`` makes it; ``code`` stays OpenAI's (invalid_value, unsupported_parameter, …)."""
    message, detail = _reason(kind, template, param, ctx)
    return InvalidRequest(message, param=param, code=code, details=[detail])


class ContentPolicyViolation(InvalidRequest):
    code = "content_policy_violation"


class AuthenticationFailed(APIError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(APIError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(APIError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(APIError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class Conflict(APIError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(APIError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(APIError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class QuotaExceeded(RateLimited):
    type = "insufficient_quota"
    code = "insufficient_quota"


class Overloaded(APIError):
    status = 503
    type = "server_error"
    code = "overloaded"


class ModelNotReady(Overloaded):
    code = "model_not_ready"
