"""OpenAI's cursor page of a list (files, a response's input items): ``data`` in the asked
``Order``, the ids of its first and last entries, and whether more follow; the SDK's
paginator asks again with ``after`` set to ``last_id`` while ``has_more``."""

from __future__ import annotations

from typing import Any, Literal

Order = Literal["asc", "desc"]


def cursor_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The page's body: ``data`` (each entry with its ``id``) and the cursor around it."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
