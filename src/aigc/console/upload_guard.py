"""The server's own size limit on each console uploader, before any of the body is read.

``ui.upload``'s ``max_file_size`` is checked by the browser alone: a signed-in person posting
straight to an uploader's address (``/_nicegui/client/<client>/upload/<element>``) could send
up to the platform-wide ``max_upload_bytes``, all of it read and held by this process. Each
uploader is given its limit here (``cap``); the middleware finds the element behind the address
and refuses, in the person's language, a body declared larger (413) or not declared at all (411)
before it reads a byte of it. uvicorn never passes on more than the declared length.
"""

from __future__ import annotations

import json
import re
from typing import Any
from weakref import WeakKeyDictionary

from nicegui import Client, ui
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from aigc.console.i18n import Translator, add, pick_language
from aigc.console.session import LANGUAGE_COOKIE
from aigc.errors import APIError, InvalidRequest, PayloadTooLarge

add(
    {
        "en": {
            "upload.too_large": "This upload is larger than the limit of {limit} MB.",
            "upload.no_length": "An upload must say its length (Content-Length).",
        },
        "zh-CN": {
            "upload.too_large": "上传内容超过了 {limit} MB 的上限。",
            "upload.no_length": "上传必须注明长度（Content-Length）。",
        },
    }
)

# A multipart body holds more than its files: boundaries and each part's headers (its name).
MULTIPART_ROOM = 64 * 1024
_UPLOAD_PATH = re.compile(r"^/_nicegui/client/([^/]+)/upload/(\d+)$")
_caps: WeakKeyDictionary[ui.upload, int] = WeakKeyDictionary()


class LengthRequired(InvalidRequest):
    status = 411
    code = "length_required"


def cap(upload: ui.upload, max_bytes: int) -> ui.upload:
    """Let one request to ``upload`` carry at most ``max_bytes`` of files (all of a batch)."""
    _caps[upload] = max_bytes
    return upload


def megabytes(n: int) -> str:
    """``n`` bytes in MB as a person reads it: 100, 7.5."""
    return f"{n / (1024 * 1024):.1f}".removesuffix(".0")


def limit_of(path: str) -> int | None:
    """The most bytes a request body to this uploader address may have, or None (not one of
    ours, or no limit of its own: the platform-wide one applies)."""
    match = _UPLOAD_PATH.match(path)
    if match is None:
        return None
    client = Client.instances.get(match.group(1))
    element = client.elements.get(int(match.group(2))) if client is not None else None
    if not isinstance(element, ui.upload):
        return None
    max_bytes = _caps.get(element)
    if max_bytes is None and not element.props.get("batch"):
        max_bytes = element.props.get("max-file-size")  # one file a request: the browser's own
    return None if max_bytes is None else int(max_bytes) + MULTIPART_ROOM


class UploadGuard:
    """ASGI middleware: a POST to a console uploader whose body could be over its limit is
    answered at once, unread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            limit = limit_of(scope["path"])
            if limit is not None:
                headers = {k.lower(): v for k, v in scope["headers"]}
                error = _refusal(headers, limit)
                if error is not None:
                    await _send(send, error)
                    return
        await self.app(scope, receive, send)


def _refusal(headers: dict[bytes, bytes], limit: int) -> APIError | None:
    tr = _translator(headers)
    declared = headers.get(b"content-length", b"").decode("latin-1").strip()
    if not declared.isdigit() or b"transfer-encoding" in headers:
        return LengthRequired(tr("upload.no_length"))
    if int(declared) > limit:
        return PayloadTooLarge(tr("upload.too_large", limit=megabytes(limit - MULTIPART_ROOM)))
    return None


def _translator(headers: dict[bytes, bytes]) -> Translator:
    cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    return Translator(pick_language(cookies.get(LANGUAGE_COOKIE), accept))


async def _send(send: Send, error: APIError) -> None:
    body = json.dumps(error.body(), ensure_ascii=False).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread body is not waited for
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
