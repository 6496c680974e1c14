"""Stored responses (``store``), each the caller's tenant's own.

Every lookup filters by the caller's tenant, so another tenant's response id answers exactly as
an id that does not exist: 404. Plain functions over a session; the routes run them in a worker
thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import NotFound, refused, refused_value
from aigc.infra import untrusted
from aigc.infra.cursor_pages import Order, cursor_page
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
    order: Order = "desc",
    after: str | None = None,
) -> dict[str, Any]:
    """``GET /v1/responses/{id}/input_items``: a page of its input items (earlier turns
    included), newest first unless ``order`` is asc, those after the item ``after``.

    The items are one stored JSON list (read without the response beside it), so the page is
    cut from it here, and only the page's items are made into their listed form. An id the
    list holds twice (a client may send its own) is listed once by that id, the later copy by
    its place, so every page's last id leads on to the next page; an ``after`` that names no
    item is a 400, where a cursor that matched nothing would answer as a finished list."""
    if not 1 <= limit <= MAX_ITEMS_PAGE:
        raise refused_value(
            "param_int_range",
            "'limit' is from {low} to {high}",
            param="limit",
            low=1,
            high=MAX_ITEMS_PAGE,
        )
    found = session.execute(
        select(StoredResponse.items, StoredResponse.input_count).where(
            *_mine(principal, response_id)
        )
    ).first()
    if found is None:
        raise _not_found(response_id)
    items, input_count = found
    inputs: list[dict[str, Any]] = items[:input_count]
    places = list(range(len(inputs)))  # the items' places in the asked order
    if order == "desc":
        places.reverse()
    ids = _item_ids(response_id, inputs)
    start = 0
    if after is not None:
        start = next((n + 1 for n, i in enumerate(places) if ids[i] == after), -1)
        if start < 0:
            raise refused_value(
                "cursor_unknown",
                "'after' names no input item of this response: {after}",
                param="after",
                after=str(untrusted.field(after)),
            )
    page = places[start : start + limit]
    return cursor_page([_listed(inputs[i], ids[i]) for i in page], start + limit < len(places))


def _item_ids(response_id: str, items: list[dict[str, Any]]) -> list[str]:
    """Each input item's listed id: its own, unless empty or taken by an earlier item; else
    one made from the response's id and its place."""
    ids: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        own = item.get("id")
        item_id = own if isinstance(own, str) and own and own not in seen else None
        item_id = item_id or f"item_{response_id[5:]}_{i}"
        seen.add(item_id)
        ids.append(item_id)
    return ids


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
    row = session.scalar(select(StoredResponse).where(*_mine(principal, response_id)))
    if row is None:
        raise _not_found(response_id, param)
    return row


def _mine(principal: Principal, response_id: str) -> tuple[ColumnElement[bool], ...]:
    """The stored response ``response_id`` of the caller's tenant: another tenant's answers
    as one that does not exist."""
    return (StoredResponse.id == response_id, StoredResponse.tenant_id == principal.tenant_id)


def _not_found(response_id: str, param: str | None = None) -> NotFound:
    return refused(
        NotFound,
        "response_not_found",
        "Response with id '{id}' not found.",
        param=param,
        id=untrusted.field(response_id),
    )
