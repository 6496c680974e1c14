"""Requests a route takes in another form: HEAD where only GET is declared, and an API path with
a trailing slash. Answered here, without a redirect, the same way as the plain form.

FastAPI declares a ``GET`` route for GET alone, so HEAD on most of them answered 405 while
Starlette's own routes (the docs) and the downloads (``blob_response.add_head``) answered it:
here every GET route answers HEAD with the GET's status and headers and no body. A route that
declares HEAD itself (a download, which then skips reading its object) keeps it.

A trailing slash reached the route with a path parameter (``/v1/models/``: the model ``''``,
"not found"), the API's catch-all 404 (``/api/usage/``) or the console's sign-in redirect
(``/healthz/``). The path without it is taken when one of the app's routes takes that one for
the method; no route has a path that ends in a slash, nor an id that does.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigc.gateway.unmatched import methods_at


class RouteForms:
    """ASGI middleware: HEAD as GET without the body, and paths without a trailing slash."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.endswith("/") and path != "/":
            _strip_slash(scope)
        if scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        allowed = methods_at(scope["app"], scope)
        if "HEAD" in allowed or "GET" not in allowed:
            await self.app(scope, receive, send)
            return
        # A copy: the server reads the method of its own scope (HEAD: no body to come), the
        # audit and the access log record it, and the route the router picked is theirs too.
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, _headers_only(send))
        finally:
            if "route" in as_get:
                scope["route"] = as_get["route"]


def _strip_slash(scope: Scope) -> None:
    """The path without its trailing slash(es), when a route takes that path for the method."""
    trimmed = scope["path"].rstrip("/")
    method = "GET" if scope["method"] == "HEAD" else scope["method"]
    if method not in methods_at(scope["app"], {**scope, "path": trimmed}):
        return
    scope["path"] = trimmed
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        scope["raw_path"] = raw.rstrip(b"/")


def _headers_only(send: Send) -> Send:
    """``send`` for a HEAD answered by a GET route: the start (status, headers, the length the
    body would have) passes; the body becomes one empty message."""
    ended = False

    async def sending(message: Message) -> None:
        nonlocal ended
        if message["type"] != "http.response.body":
            await send(message)
            return
        if not ended and not message.get("more_body", False):
            ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return sending
