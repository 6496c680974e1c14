"""The answer for an API address no route takes: 405 with ``Allow`` when the path exists for
other methods, else 404 — always in OpenAI's error envelope, whatever the method.

The console is mounted at ``/`` and would otherwise catch every unmatched request, answering a
redirect to its sign-in page (a TRACE on ``/v1/models`` got a 303 to ``/login``). Under ``/v1``
and ``/api`` the caller is a program: it gets an error it can read.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.routing import Match, Mount
from starlette.types import Scope

from aigc.errors import MethodNotAllowed, NotFound, refused

# Every method a client may send; the catch-all takes them all so none reaches the console.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY"]


def allowed_methods(request: Request) -> list[str]:
    """The methods the app's own routes accept at this path (empty: the path is unknown);
    HEAD wherever GET is, as ``route_forms`` answers it."""
    allowed = methods_at(request.app, request.scope)
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


def methods_at(app: Any, scope: Scope) -> list[str]:
    """The methods ``app``'s own routes accept at ``scope``'s path, the console and the
    catch-all aside. Asked of the router itself, method by method, so included routers count
    too."""
    routes = [
        route
        for route in app.router.routes
        if getattr(route, "endpoint", None) is not unmatched and not isinstance(route, Mount)
    ]
    allowed = []
    for method in ANY_METHOD:
        asked = {**scope, "method": method}
        if any(route.matches(asked)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def wrong_method(method: str, allowed: str) -> MethodNotAllowed:
    """The 405 for ``method`` where the path takes ``allowed`` (as the Allow header lists it)."""
    return refused(
        MethodNotAllowed,
        "method_not_allowed",
        "{method} is not allowed here; use {allowed}",
        headers={"Allow": allowed},
        method=method,
        allowed=allowed,
    )


async def unmatched(request: Request) -> None:
    allowed = allowed_methods(request)
    if allowed:
        raise wrong_method(request.method, ", ".join(allowed))
    raise NotFound("Unknown URL: no such endpoint", code="unknown_url")
