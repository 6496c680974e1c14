"""Chat conversations kept server-side, one owner each: the person behind the principal.

Every function filters by the caller's tenant AND user, so another user's (or tenant's)
conversation is indistinguishable from one that does not exist (``NotFound``). A principal with
no person behind it (an API key not bound to a user) cannot own conversations and is refused
before any lookup.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from aigc.access import Principal, require_role
from aigc.errors import NotFound, PermissionDenied, refused, refused_value
from aigc.gateway.auth import as_utc
from aigc.infra import untrusted
from aigc.infra.schema import (
    Conversation,
    ConversationMessage,
    new_id,
    unix_time,
    utcnow,
)

ROLES = ("system", "user", "assistant")
MAX_TITLE = 200
MAX_CONTENT = 200_000
MAX_META_BYTES = 64_000
AUTO_TITLE = 60  # characters of the first question used as the title
LIST_LIMIT = 200


def owner_of(principal: Principal) -> tuple[str, str]:
    """(tenant_id, user_id) of the caller, or a 403 saying why a key cannot have conversations."""
    if principal.user_id is None:
        raise PermissionDenied(
            "Conversations belong to a person: sign in to the console, or use an API key bound "
            "to a user (POST /api/keys with user_id)",
            code="user_required",
        )
    return principal.tenant_id, principal.user_id


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        raise refused_value(
            "string_too_long",
            "title is at most {max_length} characters",
            param="title",
            max_length=MAX_TITLE,
        )
    return title


def create_conversation(
    session: Session, principal: Principal, title: str = "", model: str = ""
) -> Conversation:
    require_role(principal, "member")
    tenant_id, user_id = owner_of(principal)
    now = utcnow()
    row = Conversation(
        id=new_id("conv_"),
        tenant_id=tenant_id,
        user_id=user_id,
        title=_clean_title(title),
        model=model[:200],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def list_conversations(
    session: Session, principal: Principal, q: str | None = None, limit: int = LIST_LIMIT
) -> list[Conversation]:
    """The caller's conversations, newest activity first; ``q`` matches title or any message."""
    tenant_id, user_id = owner_of(principal)
    query = select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.user_id == user_id
    )
    if q and q.strip():
        pattern = _like(q.strip())
        in_messages = select(ConversationMessage.conversation_id).where(
            func.lower(ConversationMessage.content).like(pattern, escape="\\")
        )
        query = query.where(
            or_(
                func.lower(Conversation.title).like(pattern, escape="\\"),
                Conversation.id.in_(in_messages),
            )
        )
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id).limit(
        max(1, min(limit, LIST_LIMIT))
    )
    return list(session.scalars(query))


def get_conversation(session: Session, principal: Principal, conversation_id: str) -> Conversation:
    tenant_id, user_id = owner_of(principal)
    row = session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == tenant_id,
            Conversation.user_id == user_id,
        )
    )
    if row is None:
        raise refused(
            NotFound,
            "conversation_not_found",
            "No conversation with id '{id}'",
            param="conversation_id",
            id=untrusted.field(conversation_id),
        )
    return row


def messages_of(session: Session, conversation: Conversation) -> list[ConversationMessage]:
    query = (
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation.id)
        .order_by(ConversationMessage.created_at, ConversationMessage.id)
    )
    return list(session.scalars(query))


def append_message(
    session: Session,
    principal: Principal,
    conversation_id: str,
    role: str,
    content: str,
    meta: dict[str, Any] | None = None,
) -> ConversationMessage:
    """Add one turn. The first user message names an untitled conversation."""
    require_role(principal, "member")
    conversation = get_conversation(session, principal, conversation_id)
    if role not in ROLES:
        raise refused_value(
            "literal_error",
            "role must be one of {expected}",
            param="role",
            expected=", ".join(ROLES),
        )
    if len(content) > MAX_CONTENT:
        raise refused_value(
            "string_too_long",
            "content is at most {max_length} characters",
            param="content",
            max_length=MAX_CONTENT,
        )
    meta = dict(meta or {})
    # bytes, as the refusal says: "长" is one character but three bytes of UTF-8
    if len(json.dumps(meta, ensure_ascii=False).encode("utf-8")) > MAX_META_BYTES:
        raise refused_value(
            "json_too_large",
            "meta is at most {max_bytes} bytes of JSON",
            param="meta",
            max_bytes=MAX_META_BYTES,
        )
    # Strictly increasing times keep the order of quick appends on every backend.
    last = session.scalar(
        select(func.max(ConversationMessage.created_at)).where(
            ConversationMessage.conversation_id == conversation.id
        )
    )
    now = utcnow()
    if last is not None and now <= as_utc(last):
        now = as_utc(last) + timedelta(microseconds=1)
    row = ConversationMessage(
        id=new_id("msg_"),
        conversation_id=conversation.id,
        role=role,
        content=content,
        meta=meta,
        created_at=now,
    )
    session.add(row)
    if not conversation.title and role == "user" and content.strip():
        conversation.title = _auto_title(content)
    conversation.updated_at = now
    session.flush()
    return row


def rate_message(
    session: Session,
    principal: Principal,
    conversation_id: str,
    message_id: str,
    rating: int,
    correction: str | None = None,
) -> ConversationMessage:
    """Remember the caller's rating of one answer, so a reopened conversation shows it.

    The rating itself goes to the feedback API (keyed on the request id); this is the owner's
    own record of having given it.
    """
    require_role(principal, "member")
    conversation = get_conversation(session, principal, conversation_id)
    row = session.get(ConversationMessage, message_id)
    if row is None or row.conversation_id != conversation.id:
        raise refused(
            NotFound,
            "message_not_found",
            "No message '{id}' in this conversation",
            code="message_not_found",
            id=untrusted.field(message_id),
        )
    if row.role != "assistant":
        raise refused_value(
            "rating_assistant_only",
            "Only an assistant's answer can be rated",
            param="message_id",
        )
    if rating not in (-1, 1):
        raise refused_value("rating_value", "rating is 1 (good) or -1 (bad)", param="rating")
    meta = {k: v for k, v in row.meta.items() if k != "correction"} | {"rating": rating}
    if correction:
        meta["correction"] = correction[:MAX_CONTENT]
    row.meta = meta  # a new dict: JSON columns notice assignment, not mutation
    session.flush()
    return row


def _auto_title(content: str) -> str:
    words = " ".join(content.split())
    return words if len(words) <= AUTO_TITLE else words[: AUTO_TITLE - 1] + "…"


def update_conversation(
    session: Session,
    principal: Principal,
    conversation_id: str,
    title: str | None = None,
    model: str | None = None,
) -> Conversation:
    require_role(principal, "member")
    conversation = get_conversation(session, principal, conversation_id)
    if title is not None:
        conversation.title = _clean_title(title)
    if model is not None:
        conversation.model = model[:200]
    session.flush()
    return conversation


def delete_conversation(session: Session, principal: Principal, conversation_id: str) -> None:
    """Remove a conversation and its messages. Owners of any role may clear their history."""
    conversation = get_conversation(session, principal, conversation_id)
    session.execute(  # explicit, not left to ON DELETE CASCADE of the backend
        delete(ConversationMessage).where(ConversationMessage.conversation_id == conversation.id)
    )
    session.delete(conversation)
    session.flush()


def conversation_view(
    row: Conversation, messages: list[ConversationMessage] | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id,
        "object": "conversation",
        "title": row.title,
        "model": row.model,
        "created_at": unix_time(row.created_at),
        "updated_at": unix_time(row.updated_at),
    }
    if messages is not None:
        view["messages"] = [message_view(m) for m in messages]
    return view


def message_view(row: ConversationMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "conversation.message",
        "role": row.role,
        "content": row.content,
        "meta": row.meta or {},
        "created_at": unix_time(row.created_at),
    }
