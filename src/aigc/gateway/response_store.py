"""Stored responses (``store``), each the caller's tenant's own.

Every lookup filters by the caller's tenant, so another tenant's response id answers exactly as
an id that does not exist: 404. Plain functions over a session; the routes run them in a worker
thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import NotFound
from aigc.infra import untrusted
from aigc.infra.schema import StoredResponse


@dataclass(frozen=True)
class Stored:
    response: dict[str, Any]
    items: list[dict[str, Any]]  # the conversation up to its output, as input items
    input_count: int  # the first this many items are its input (earlier turns included)


def save(
    session: Session,
    principal: Principal,
    response: dict[str, Any],
    items: list[dict[str, Any]],
    input_count: int,
) -> None:
    session.add(
        StoredResponse(
            id=response["id"],
            tenant_id=principal.tenant_id,
            key_id=principal.key_id,
            model=response["model"],
            response=response,
            items=items,
            input_count=input_count,
        )
    )


def load(
    session: Session, principal: Principal, response_id: str, param: str | None = None
) -> Stored:
    """The caller's tenant's stored response, or a 404 naming the id."""
    row = _row(session, principal, response_id, param)
    return Stored(row.response, row.items, row.input_count)


def delete(session: Session, principal: Principal, response_id: str) -> dict[str, Any]:
    session.delete(_row(session, principal, response_id))
    return {"id": response_id, "object": "response", "deleted": True}


def input_list(session: Session, principal: Principal, response_id: str) -> dict[str, Any]:
    """``GET /v1/responses/{id}/input_items``: its input items (earlier turns first), with ids."""
    stored = load(session, principal, response_id)
    data = [
        _listed(item, item.get("id") or f"item_{response_id[5:]}_{i}")
        for i, item in enumerate(stored.items[: stored.input_count])
    ]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": False,
    }


def _listed(item: dict[str, Any], item_id: str) -> dict[str, Any]:
    """An input item as OpenAI lists it: with an id, a message's text as a list of parts."""
    out = {"id": item_id, "type": "message"} | item
    if out["type"] == "message" and isinstance(out.get("content"), str):
        kind = "output_text" if out.get("role") == "assistant" else "input_text"
        out["content"] = [{"type": kind, "text": out["content"]}]
        out.setdefault("status", "completed")
    return out


def _row(
    session: Session, principal: Principal, response_id: str, param: str | None = None
) -> StoredResponse:
    row = session.scalar(
        select(StoredResponse).where(
            StoredResponse.id == response_id, StoredResponse.tenant_id == principal.tenant_id
        )
    )
    if row is None:
        raise NotFound(f"Response with id '{untrusted.field(response_id)}' not found.", param=param)
    return row
