"""The caller's own chat history under /api/conversations (the console's Chat page keeps it).

Routes only translate HTTP to ``aigc.gateway.conversations``, where the tenant-and-user filter
lives. Plain ``def`` routes: FastAPI runs them in a worker thread.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from aigc.access import Principal
from aigc.gateway import conversations as conv
from aigc.gateway.deps import principal, services
from aigc.gateway.openapi import BODY_ID, errors, link, links
from aigc.gateway.services import Services

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="", max_length=conv.MAX_TITLE)
    model: str = Field(default="", max_length=200)


class ConversationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=conv.MAX_TITLE)
    model: str | None = Field(default=None, max_length=200)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=conv.MAX_CONTENT)
    meta: dict[str, Any] = Field(default_factory=dict)


@router.get("", responses=errors(400, 401, 403))
def list_conversations(
    q: str | None = None,
    limit: int = Query(  # a value outside is brought within (list_conversations)
        default=conv.LIST_LIMIT, json_schema_extra={"minimum": 1, "maximum": conv.LIST_LIMIT}
    ),
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    with svc.db.session() as s:
        rows = conv.list_conversations(s, caller, q, limit)
        return {"object": "list", "data": [conv.conversation_view(r) for r in rows]}


@router.post(
    "",
    status_code=201,
    responses=errors(400, 401, 403, 413)
    | links(
        201,
        GetConversation=link(
            "GET", "/api/conversations/{conversation_id}", conversation_id=BODY_ID
        ),
        UpdateConversation=link(
            "PATCH", "/api/conversations/{conversation_id}", conversation_id=BODY_ID
        ),
        AppendMessage=link(
            "POST", "/api/conversations/{conversation_id}/messages", conversation_id=BODY_ID
        ),
        DeleteConversation=link(
            "DELETE", "/api/conversations/{conversation_id}", conversation_id=BODY_ID
        ),
    ),
)
def create_conversation(
    body: ConversationIn | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """An empty conversation; the body (title, model) is optional."""
    body = body or ConversationIn()
    with svc.db.session() as s:
        return conv.conversation_view(conv.create_conversation(s, caller, body.title, body.model))


@router.get("/{conversation_id}", responses=errors(401, 403, 404))
def get_conversation(
    conversation_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = conv.get_conversation(s, caller, conversation_id)
        return conv.conversation_view(row, conv.messages_of(s, row))


@router.patch("/{conversation_id}", responses=errors(400, 401, 403, 404, 413))
def update_conversation(
    conversation_id: str,
    body: ConversationPatch,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = conv.update_conversation(s, caller, conversation_id, body.title, body.model)
        return conv.conversation_view(row)


@router.delete("/{conversation_id}", responses=errors(401, 403, 404))
def delete_conversation(
    conversation_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    with svc.db.session() as s:
        conv.delete_conversation(s, caller, conversation_id)
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


@router.post(
    "/{conversation_id}/messages",
    status_code=201,
    responses=errors(400, 401, 403, 404, 413)
    | links(
        201,
        RateMessage=link(
            "PUT",
            "/api/conversations/{conversation_id}/messages/{message_id}/rating",
            conversation_id="$request.path.conversation_id",
            message_id=BODY_ID,
        ),
    ),
)
def append_message(
    conversation_id: str,
    body: MessageIn,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = conv.append_message(s, caller, conversation_id, body.role, body.content, body.meta)
        return conv.message_view(row)


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: Literal[-1, 1]
    correction: str | None = Field(default=None, max_length=conv.MAX_CONTENT)


@router.put(
    "/{conversation_id}/messages/{message_id}/rating",
    responses=errors(400, 401, 403, 404, 409, 413),
)
def rate_message(
    conversation_id: str,
    message_id: str,
    body: RatingIn,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = conv.rate_message(
            s, caller, conversation_id, message_id, body.rating, body.correction
        )
        return conv.message_view(row)
