"""A stored object as an HTTP download, whichever backend the blob store has.

With a directory store the file is sent by ``FileResponse`` (sendfile, range requests); with
S3 it is streamed a piece at a time from the bucket, never held whole in memory.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from aigc.errors import APIError
from aigc.infra.storage import BlobNotFound, BlobStore

CHUNK = 1024 * 1024


def content_disposition(filename: str) -> str:
    """``attachment`` with the name percent-encoded (RFC 6266/5987), any script included."""
    return f"attachment; filename*=utf-8''{quote(filename)}"


def blob_download(
    store: BlobStore, key: str, filename: str, size: int | None, missing: APIError
) -> Response:
    """The object under ``key`` as an attachment named ``filename``; ``missing`` is raised
    when it is gone (deleted between the caller's lookup and now)."""
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise missing
        return FileResponse(path, media_type="application/octet-stream", filename=filename)
    try:
        pieces = store.iter_bytes(key, CHUNK)
    except BlobNotFound:
        raise missing from None
    headers = {"Content-Disposition": content_disposition(filename)}
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(
        iterate_in_threadpool(pieces), media_type="application/octet-stream", headers=headers
    )
