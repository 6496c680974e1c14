"""OpenAI's Responses API under /v1/responses: create (JSON or SSE), count its input tokens,
read back, delete, list a stored response's input items. The work is in
``gateway/responding.py`` (create and count, on the chat pipeline) and
``gateway/response_store.py`` (stored responses, the caller's tenant's only). The routes over
the store are plain functions: FastAPI runs them in a worker thread, as it does the admin
routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.responses import JSONResponse, Response

from aigc.access import Principal, require_role
from aigc.gateway import response_store
from aigc.gateway.context import RequestRecord
from aigc.gateway.deps import principal, record, services
from aigc.gateway.openapi import errors
from aigc.gateway.responding import count_input, respond
from aigc.gateway.response_schemas import ResponseRequest
from aigc.gateway.routes.openai import GENERATED, SSE_HEADERS
from aigc.gateway.services import Services
from aigc.infra.cursor_pages import Order

router = APIRouter(prefix="/v1/responses", tags=["openai"])


@router.post("", responses=GENERATED)
async def create_response(
    body: ResponseRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> Response:
    require_role(caller, "member")
    answer = await respond(svc, caller, rec, body)
    if answer.events is not None:
        return StreamingResponse(
            answer.events, media_type="text/event-stream", headers=SSE_HEADERS | answer.headers
        )
    return JSONResponse(answer.payload, headers=answer.headers)


@router.post("/input_tokens", responses=errors(400, 401, 403, 404, 429, 503))
async def count_input_tokens(
    body: ResponseRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> Response:
    """The input tokens that creating a response from this body would bill; nothing is
    generated (see ``responding.count_input``)."""
    require_role(caller, "member")
    answer = await count_input(svc, caller, rec, body)
    return JSONResponse(answer.payload, headers=answer.headers)


@router.get("/{response_id}", responses=errors(401, 404))
def get_response(
    response_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    with svc.db.session() as session:
        return response_store.load(session, caller, response_id).response


@router.get("/{response_id}/input_items", responses=errors(400, 401, 404))
def list_input_items(
    response_id: str,
    limit: int = Query(default=response_store.ITEMS_PAGE, ge=1, le=response_store.MAX_ITEMS_PAGE),
    order: Order = "desc",
    after: str | None = Query(
        default=None, min_length=1, description="The id of the last item seen"
    ),
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """OpenAI's cursor page of input items, newest first by default."""
    with svc.db.session() as session:
        return response_store.input_list(session, caller, response_id, limit, order, after)


@router.delete("/{response_id}", responses=errors(401, 403, 404))
def delete_response(
    response_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require_role(caller, "member")
    with svc.db.session() as session:
        return response_store.delete(session, caller, response_id)
