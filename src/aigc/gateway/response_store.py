"""Stored responses (``store``), each the caller's tenant's own.

Every lookup filters by the caller's tenant, so another tenant's response id answers exactly as
an id that does not exist: 404. Plain functions over a session; the routes run them in a worker
thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import InvalidRequest, NotFound
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


MAX_ITEMS_PAGE = 100  # OpenAI's bounds of an input items page: 1 to 100, 20 by default
ITEMS_PAGE = 20


def input_list(
    session: Session,
    principal: Principal,
    response_id: str,
    limit: int = ITEMS_PAGE,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> dict[str, Any]:
    """``GET /v1/responses/{id}/input_items``: a page of its input items (earlier turns
    included), newest first unless ``order`` is asc, those after the item ``after``.

    The items are one stored JSON list, so the page is cut from it here. An id the list holds
    twice (a client may send its own) is listed once by that id, the later copy by its place,
    so every page's last id leads on to the next page; an ``after`` that names no item is a
    400, where a cursor that matched nothing would answer as a finished list."""
    if not 1 <= limit <= MAX_ITEMS_PAGE:
        raise InvalidRequest(f"'limit' is from 1 to {MAX_ITEMS_PAGE}", param="limit")
    stored = load(session, principal, response_id)
    data: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(stored.items[: stored.input_count]):
        own = item.get("id")
        item_id = own if isinstance(own, str) and own and own not in seen else None
        item_id = item_id or f"item_{response_id[5:]}_{i}"
        seen.add(item_id)
        data.append(_listed(item, item_id))
    if order == "desc":
        data.reverse()
    start = 0
    if after is not None:
        ids = [item["id"] for item in data]
        if after not in ids:
            raise InvalidRequest(
                f"'after' names no input item of this response: {untrusted.field(after)}",
                param="after",
            )
        start = ids.index(after) + 1
    page = data[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + limit < len(data),
    }


def _listed(item: dict[str, Any], item_id: str) -> dict[str, Any]:
    """An input item as OpenAI lists it: with an id, a message's text as a list of parts."""
    out = {"type": "message"} | item | {"id": item_id}
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
