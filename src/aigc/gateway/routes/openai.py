"""OpenAI-compatible endpoints under /v1: models, chat completions, completions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from aigc.access import Principal, require_model_allowed, require_role
from aigc.gateway import pipeline
from aigc.gateway.context import RequestRecord
from aigc.gateway.deps import principal, record, services
from aigc.gateway.openapi import errors
from aigc.gateway.routes.embeddings import embedding_model_view
from aigc.gateway.schemas import ChatCompletionRequest, CompletionRequest, SamplingFields
from aigc.gateway.services import Services
from aigc.models.registry import model_view

router = APIRouter(prefix="/v1", tags=["openai"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# A completion is JSON, or with "stream": true server-sent events ending in "data: [DONE]".
GENERATED = {
    200: {
        "description": "The completion (JSON), or its chunks as server-sent events when streaming",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }
} | errors(400, 401, 403, 404, 413, 429, 502, 503)


@router.get("/models", responses=errors(401))
async def list_models(
    caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    def run() -> list[dict[str, Any]]:
        with svc.db.session() as session:
            views = [model_view(r) for r in svc.registry.visible(session, caller)]
        views.append(embedding_model_view(svc.settings))
        allowed = caller.allowed_models
        return [v for v in views if allowed is None or v["id"] in allowed]

    return {"object": "list", "data": await run_in_threadpool(run)}


@router.get("/models/{model:path}", responses=errors(401, 404))
async def get_model(
    model: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        embedding = embedding_model_view(svc.settings)
        if model == embedding["id"]:
            require_model_allowed(caller, model)
            return embedding
        with svc.db.session() as session:
            return model_view(svc.registry.find(session, caller, model))

    return await run_in_threadpool(run)


async def _generate(
    svc: Services, caller: Principal, rec: RequestRecord, body: SamplingFields, chat: bool
) -> Response:
    require_role(caller, "member")
    prepared = await pipeline.prepare(svc, caller, rec, body)
    headers = prepared.reservation.headers if prepared.reservation else {}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = pipeline.stream(svc, prepared, rec, chat=chat, include_usage=include_usage)
        events = await pipeline.opened(events, prepared.model)  # Ray: a full queue is a 503
        return StreamingResponse(
            events, media_type="text/event-stream", headers=SSE_HEADERS | headers
        )
    payload = await pipeline.complete(svc, prepared, rec, chat=chat)
    return JSONResponse(payload, headers=headers)


@router.post("/chat/completions", responses=GENERATED)
async def chat_completions(
    body: ChatCompletionRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> Response:
    return await _generate(svc, caller, rec, body, chat=True)


@router.post("/completions", responses=GENERATED)
async def completions(
    body: CompletionRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> Response:
    return await _generate(svc, caller, rec, body, chat=False)
