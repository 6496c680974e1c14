"""A stored object as an HTTP download, whichever backend the blob store has.

With a directory store the file is sent by ``FileResponse`` (sendfile, range requests); with
S3 it is streamed a piece at a time from the bucket, never held whole in memory.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from aigc.errors import APIError
from aigc.infra.storage import BlobNotFound, BlobStore

CHUNK = 1024 * 1024
# Types a browser would render or run: sent as plain bytes whatever the file's name says (a
# document a person uploaded is no page of this site).
_ACTIVE = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
    }
)
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._()+-]+")


def media_type(filename: str) -> str:
    """The file's type by its name (application/pdf, image/png), so a browser or client can
    open it; bytes for an unknown or an active type."""
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return "application/octet-stream" if guessed is None or guessed in _ACTIVE else guessed


def ascii_name(filename: str) -> str:
    """A plain-ASCII stand-in for clients that read only ``filename=`` (员工手册.pdf →
    download.pdf, Q2 报告.pdf → Q2_.pdf)."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    stem = _NOT_PLAIN.sub("_", stem).strip("_") or "download"
    extension = _NOT_PLAIN.sub("", extension)
    return f"{stem}.{extension}" if extension else stem


def content_disposition(filename: str) -> str:
    """``attachment`` with the name percent-encoded (RFC 6266/5987), any script included, and
    a plain-ASCII ``filename`` before it for clients that read only that one."""
    plain, encoded = ascii_name(filename), quote(filename, safe="")
    return f"attachment; filename=\"{plain}\"; filename*=utf-8''{encoded}"


def blob_download(
    store: BlobStore,
    key: str,
    filename: str,
    size: int | None,
    missing: APIError,
    head: bool = False,
) -> Response:
    """The object under ``key`` as an attachment named ``filename``; ``missing`` is raised
    when it is gone (deleted between the caller's lookup and now). ``head``: the headers
    alone (an HTTP HEAD), without reading the object."""
    headers = {"Content-Disposition": content_disposition(filename)}
    kind = media_type(filename)
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise missing
        return FileResponse(path, media_type=kind, headers=headers)  # answers HEAD itself
    if size is not None:
        headers["Content-Length"] = str(size)
    if head:
        if not store.exists(key):
            raise missing
        return Response(b"", media_type=kind, headers=headers)
    try:
        pieces = store.iter_bytes(key, CHUNK)
    except BlobNotFound:
        raise missing from None
    return StreamingResponse(iterate_in_threadpool(pieces), media_type=kind, headers=headers)


def add_head(router: APIRouter, path: str, endpoint: Any) -> None:
    """HEAD beside a download's GET: the same headers without the body, kept out of the
    OpenAPI document, where it would repeat the GET's operation id."""
    router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)
