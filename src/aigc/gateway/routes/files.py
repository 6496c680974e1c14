"""The OpenAI Files API under /v1/files: upload, list, retrieve, delete, download content.

Routes only translate HTTP to the functions in ``aigc.infra.files``, where the role and tenant
checks live. They are plain ``def`` routes, so FastAPI runs them in a worker thread and the
synchronous session and file I/O never block the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from aigc.access import Principal
from aigc.errors import refused_value
from aigc.gateway.blob_response import add_head, blob_download
from aigc.gateway.counted import one_request
from aigc.gateway.deps import principal, services
from aigc.gateway.openapi import BODY_ID, content, errors, link, links
from aigc.gateway.services import Services
from aigc.infra import files
from aigc.infra.cursor_pages import Order, cursor_page

router = APIRouter(prefix="/v1", tags=["files"])
CHUNK = 1024 * 1024


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    """The upload as it was spooled by the multipart parser, a chunk at a time."""
    while chunk := upload.file.read(CHUNK):
        yield chunk


async def refuse_expiry(request: Request) -> None:
    """OpenAI's ``expires_after`` (the SDK sends ``expires_after[anchor]`` and
    ``expires_after[seconds]`` form fields) asks for the file to be deleted later; files here
    are kept until deleted, so asking is a 400, never a silent promise. The form is the one
    FastAPI already parsed (Starlette keeps it on the request)."""
    form = await request.form()
    if any(key == "expires_after" or key.startswith("expires_after[") for key in form):
        raise refused_value(
            "file_expiry_unsupported",
            "'expires_after' is not supported by this server yet: files are kept until "
            "deleted (DELETE /v1/files/{file_id}); remove it from the request",
            param="expires_after",
            code="unsupported_parameter",
        )


@router.post(
    "/files",
    responses=errors(400, 401, 403, 413)
    | links(
        200,
        GetFile=link("GET", "/v1/files/{file_id}", file_id=BODY_ID),
        FileContent=link("GET", "/v1/files/{file_id}/content", file_id=BODY_ID),
        DeleteFile=link("DELETE", "/v1/files/{file_id}", file_id=BODY_ID),
    ),
)
def create_file(
    file: UploadFile = File(..., description="Not empty", json_schema_extra={"minLength": 1}),
    purpose: files.Purpose = Form(...),
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
    _: None = Depends(refuse_expiry),  # after the caller: a 401 comes first
    _counted: None = Depends(one_request),
) -> Any:
    settings = svc.settings
    with svc.db.session() as s:
        record = files.save_upload(
            s,
            svc.storage,
            caller,
            file.filename,
            purpose,
            _chunks(file),
            settings.max_upload_bytes,
        )
        return files.file_view(record)


@router.get("/files", responses=errors(400, 401, 403))
def list_files(
    purpose: files.Purpose | None = None,
    limit: int = Query(default=files.MAX_PAGE, ge=1, le=files.MAX_PAGE),
    order: Order = "desc",
    after: str | None = Query(
        default=None, min_length=1, description="The id of the last file seen"
    ),
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    """OpenAI's cursor page: the SDK's paginator asks again with the last id while
    ``has_more``."""
    with svc.db.session() as s:
        page = files.list_files(s, caller, purpose, limit, order, after)
        return cursor_page([files.file_view(r) for r in page.records], page.has_more)


@router.get("/files/{file_id}", responses=errors(401, 403, 404))
def retrieve_file(
    file_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return files.file_view(files.get_file(s, caller, file_id))


@router.delete("/files/{file_id}", responses=errors(401, 403, 404))
def delete_file(
    file_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        files.delete_file(s, svc.storage, caller, file_id)
    return {"id": file_id, "object": "file", "deleted": True}


@router.get(
    "/files/{file_id}/content",
    response_class=StreamingResponse,
    responses=content("application/octet-stream", "The bytes as uploaded") | errors(401, 403, 404),
)
def file_content(
    file_id: str,
    request: Request,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Response:
    """The bytes exactly as uploaded, streamed from the blob store (from disk by FileResponse
    when the store is a directory, which also answers range requests)."""
    with svc.db.session() as s:
        record = files.get_file(s, caller, file_id)
    missing = files.no_file(file_id)
    head = request.method == "HEAD"
    return blob_download(
        svc.storage, files.file_key(record), record.filename, record.bytes, missing, head
    )


add_head(router, "/files/{file_id}/content", file_content)
