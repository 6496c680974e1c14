"""Knowledge bases under /api/kb: bases, access, documents (upload, URL, list, download,
delete), the chunk viewer and search.

Routes only translate HTTP to the functions in ``aigc.knowledge``, where the tenant and
permission checks live. Plain ``def`` routes: FastAPI runs them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from aigc.access import ROLES, Principal
from aigc.errors import InvalidRequest, problem_detail
from aigc.gateway.blob_response import add_head, blob_download
from aigc.gateway.counted import one_request
from aigc.gateway.deps import principal, services
from aigc.gateway.fields import NOT_BLANK, Name, branch_rules
from aigc.gateway.openapi import BODY_ID, content, errors, link, links
from aigc.gateway.services import Services
from aigc.infra import jobs
from aigc.knowledge import bases, ingest, parse, uploads
from aigc.knowledge.fetch import FetchRefused, fetch
from aigc.knowledge.retrieve import MAX_TOP_K, Filters, search

router = APIRouter(prefix="/api/kb", tags=["knowledge"])
CHUNK = 1024 * 1024


def _grant(subject: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {subject: schema, "access": {"enum": list(bases.LEVELS)}},
        "required": [subject],
        "additionalProperties": False,
    }


# What bases.parse_grants takes (it checks, and names the entry in its 400s): exactly one of
# role (and every higher one), group or user, with a level (read by default).
_ID = {"type": "string", "minLength": 1, "maxLength": bases.MAX_SUBJECT}
GRANTS = branch_rules(
    array={
        "items": {
            "anyOf": [
                _grant("role", {"enum": list(ROLES)}),
                _grant("group", _ID),
                _grant("user", _ID),
            ]
        }
    }
)


class KbCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field not taken is named, not dropped
    name: Name
    description: str = ""
    access: list[dict[str, Any]] | None = Field(default=None, json_schema_extra=GRANTS)
    dense: bool = True


class KbUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field not taken is named, not dropped
    name: Name | None = None
    description: str | None = None
    access: list[dict[str, Any]] | None = Field(default=None, json_schema_extra=GRANTS)


# A plain file name with an extension the parsers read (ingest.check_document_name and
# parse.detect_format check it; the schema keeps to ASCII names, which they all take).
_EXTENSIONS = "|".join([*parse.NAMED_EXTENSIONS, *parse.SNIFFED_EXTENSIONS])
FILENAME = rf"^[A-Za-z0-9_(][A-Za-z0-9 _.()-]*\.({_EXTENSIONS})$"


class UrlDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field not taken is named, not dropped
    # The fetch and ingest.check_document_name enforce these (with their own 400s, and more
    # leniently: an upper-case scheme, any script in a name); the schema shows the safe form.
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="An http(s) page this server may fetch: a public address, or one of the "
        "networks the operator opened (kb_fetch_allow_networks)",
        json_schema_extra={"pattern": r"^https?://[^/?#\s]"},
    )
    filename: str | None = Field(
        default=None,
        description="The document's name (default: from the URL or the content type)",
        json_schema_extra={"pattern": FILENAME, "maxLength": 255},
    )


class SearchFilters(BaseModel):
    """Only chunks of these documents, filenames or content types (Filters.from_json)."""

    model_config = ConfigDict(extra="forbid")
    document_ids: list[str] | None = None
    filenames: list[str] | None = None
    content_types: list[str] | None = None


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field not taken is named, not dropped
    query: str = Field(min_length=1, max_length=4000, pattern=NOT_BLANK)
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"  # retrieve.MODES
    filters: SearchFilters | None = None


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    while piece := upload.file.read(CHUNK):
        yield piece


def _job(job: Any) -> dict | None:
    return jobs.job_view(job) if job is not None else None


def _wake(request: Request) -> None:
    runner = getattr(request.app.state, "jobs", None)
    if runner is not None:
        runner.wake()


@router.post(
    "",
    status_code=201,
    responses=errors(400, 401, 403, 409, 413)
    | links(
        201,
        GetKb=link("GET", "/api/kb/{kb_id}", kb_id=BODY_ID),
        UpdateKb=link("PATCH", "/api/kb/{kb_id}", kb_id=BODY_ID),
        UploadDocuments=link("POST", "/api/kb/{kb_id}/documents", kb_id=BODY_ID),
        AddUrl=link("POST", "/api/kb/{kb_id}/documents/url", kb_id=BODY_ID),
        ListDocuments=link("GET", "/api/kb/{kb_id}/documents", kb_id=BODY_ID),
        SearchKb=link("POST", "/api/kb/{kb_id}/search", kb_id=BODY_ID),
        DeleteKb=link("DELETE", "/api/kb/{kb_id}", kb_id=BODY_ID),
    ),
)
def create_kb(
    body: KbCreate, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        kb = bases.create_kb(s, caller, body.name, body.description, body.access, body.dense)
        return bases.kb_view(s, kb, bases.level_of(s, caller, kb.id))


@router.get("", responses=errors(401))
def list_kbs(caller: Principal = Depends(principal), svc: Services = Depends(services)) -> Any:
    with svc.db.session() as s:
        levels = bases.access_levels(s, caller)
        return {
            "object": "list",
            "data": [bases.kb_view(s, kb, levels.get(kb.id)) for kb in bases.list_kbs(s, caller)],
        }


@router.get("/{kb_id}", responses=errors(401, 404))
def get_kb(
    kb_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        kb = bases.get_kb(s, caller, kb_id)
        return bases.kb_view(s, kb, bases.level_of(s, caller, kb_id))


@router.patch("/{kb_id}", responses=errors(400, 401, 403, 404, 409, 413))
def update_kb(
    kb_id: str,
    body: KbUpdate,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        kb = bases.update_kb(s, caller, kb_id, body.name, body.description, body.access)
        return bases.kb_view(s, kb, bases.level_of(s, caller, kb_id))


@router.get("/{kb_id}/people", responses=errors(400, 401, 403, 404))
def find_person(
    kb_id: str,
    username: str = Query(max_length=200, description="The person's exact username"),
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    """A manager of the KB names a person of its organization by exact username, to grant
    them access: the answer is that person's id and username only (``bases.find_person``)."""
    with svc.db.session() as s:
        user = bases.find_person(s, caller, kb_id, username)
        return {"object": "knowledge_base.person", "id": user.id, "username": user.username}


@router.delete("/{kb_id}", responses=errors(401, 403, 404))
def delete_kb(
    kb_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    import shutil

    with svc.db.session() as s:
        kb = bases.delete_kb(s, caller, kb_id)  # needs 'manage'
        ingest.cancel_jobs_of(s, kb.tenant_id, kb.id)
        folder = ingest.kb_dir(svc.settings.data_dir, kb.tenant_id, kb.id)
    # its document sources in the shared store, then what this instance kept (its index)
    svc.storage.delete_prefix(f"knowledge/{kb.tenant_id}/{kb.id}/")
    shutil.rmtree(folder, ignore_errors=True)
    return {"id": kb_id, "object": "knowledge_base.deleted", "deleted": True}


@router.post(
    "/{kb_id}/documents",
    responses=errors(400, 401, 403, 404, 413)
    | links(
        200,
        GetDocument=link(
            "GET",
            "/api/kb/{kb_id}/documents/{doc_id}",
            kb_id="$request.path.kb_id",
            doc_id="$response.body#/data/0/id",
        ),
    ),
)
def upload_documents(
    kb_id: str,
    request: Request,
    files: list[UploadFile] = File(default=[]),
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
    _counted: None = Depends(one_request),
) -> Any:
    """Upload one or more files. Each is judged alone: a refused one is reported in its place
    with an error object (message, code) and the others go on; when every file is refused the
    request fails with a 400 (413: all too large) naming them. Unchanged files (same name and
    content) queue nothing.

    One transaction: the caller's rights are checked before anything is written, and the
    document rows commit together with the job that will index them, or not at all."""
    with svc.db.session() as s:
        named = ((upload.filename, _chunks(upload)) for upload in files)
        done = uploads.upload_documents(s, svc.settings, caller, kb_id, named)
        results, job = done.results, _job(done.job)
    _wake(request)
    return {"object": "list", "data": results, "job": job}


@router.post("/{kb_id}/documents/url", responses=errors(400, 401, 403, 404, 413))
def add_url(
    kb_id: str,
    body: UrlDocument,
    request: Request,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
    _counted: None = Depends(one_request),
) -> Any:
    settings = svc.settings
    with svc.db.session() as s:
        bases.get_kb(s, caller, kb_id, need="write")  # refuse before fetching anything
    try:
        page = fetch(
            body.url,
            settings.kb_fetch_max_bytes,
            settings.kb_fetch_timeout_s,
            settings.kb_fetch_allow_networks,
        )
    except FetchRefused as exc:
        why = problem_detail("url", {"type": exc.kind, "ctx": exc.values, "msg": str(exc)})
        raise InvalidRequest(str(exc), param="url", code="url_refused", details=[why]) from None
    with svc.db.session() as s:
        added = ingest.add_document(
            s, settings, caller, kb_id, body.filename or page.filename, [page.data], page.url
        )
        view = ingest.document_view(added.document) | {"changed": added.changed}
        changed = [added.document.id] if added.changed else []
        job = _job(ingest.queue_documents(s, caller, kb_id, changed))
    _wake(request)
    return view | {"job": job}


@router.get("/{kb_id}/documents", responses=errors(401, 404))
def list_documents(
    kb_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        docs = ingest.list_documents(s, caller, kb_id)
        return {"object": "list", "data": [ingest.document_view(d) for d in docs]}


@router.get("/{kb_id}/documents/{doc_id}", responses=errors(401, 404))
def get_document(
    kb_id: str,
    doc_id: str,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        return ingest.document_view(ingest.get_document(s, caller, kb_id, doc_id))


@router.get(
    "/{kb_id}/documents/{doc_id}/content",
    response_class=FileResponse,
    responses=content("application/octet-stream", "The document as uploaded") | errors(401, 404),
)
def download_document(
    kb_id: str,
    doc_id: str,
    request: Request,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        doc = ingest.get_document(s, caller, kb_id, doc_id)
        key, name, size = ingest.document_key(doc), doc.filename, ingest.served_bytes(doc)
    missing = ingest.no_document(doc_id)
    return blob_download(svc.storage, key, name, size, missing, request.method == "HEAD")


add_head(router, "/{kb_id}/documents/{doc_id}/content", download_document)


@router.delete("/{kb_id}/documents/{doc_id}", responses=errors(401, 403, 404))
def delete_document(
    kb_id: str,
    doc_id: str,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    ingest.delete_document(svc.db, svc.settings, caller, kb_id, doc_id)
    return {"id": doc_id, "object": "knowledge_base.document.deleted", "deleted": True}


@router.get("/{kb_id}/documents/{doc_id}/chunks", responses=errors(401, 404))
def list_chunks(
    kb_id: str,
    doc_id: str,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        chunks = ingest.list_chunks(s, caller, kb_id, doc_id)
        return {"object": "list", "data": [ingest.chunk_view(c) for c in chunks]}


@router.post("/{kb_id}/search", responses=errors(400, 401, 404, 413))
def search_kb(
    kb_id: str,
    body: SearchBody,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
    _counted: None = Depends(one_request),
) -> Any:
    filters = Filters.from_json(body.filters.model_dump() if body.filters else None)
    with svc.db.session() as s:
        hits = search(s, svc.settings, caller, [kb_id], body.query, body.top_k, body.mode, filters)
    return {"object": "list", "data": [h.view() for h in hits]}
