"""Users' judgements of answers, tied to the request id, exported for fine-tuning.

Each feedback row holds the prompt and the answer it judges (sent by the client with the rating:
the platform does not keep transcripts of requests) and optionally a correction and tags. The
export turns them into JSONL a trainer reads:

* ``sft``: ``{"messages": [user prompt, assistant answer-or-correction]}`` for every answer
  rated good, and for every corrected one (the correction becomes the target);
* ``preference``: ``{"prompt", "chosen", "rejected"}`` for every corrected answer.

Feedback rules: ``flagged_tags`` reports tags that several bad ratings share, which an admin can
turn into a policy rule.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.guard.tables import Feedback
from aigc.infra.schema import new_id, unix_time

GOOD = 1  # ratings are -1 (bad), 0 (neutral) or 1 (good)


def add_feedback(
    session: Session,
    tenant_id: str,
    request_id: str,
    rating: int,
    correction: str | None = None,
    tags: list[str] | None = None,
    prompt: str | None = None,
    answer: str | None = None,
) -> Feedback:
    row = Feedback(
        id=new_id("fb_"),
        tenant_id=tenant_id,
        request_id=request_id,
        rating=rating,
        correction=correction,
        tags=list(tags or []),
        prompt=prompt,
        answer=answer,
    )
    session.add(row)
    session.flush()
    return row


def list_feedback(session: Session, tenant_id: str) -> list[Feedback]:
    query = select(Feedback).where(Feedback.tenant_id == tenant_id).order_by(Feedback.created_at)
    return list(session.scalars(query))


def feedback_view(row: Feedback) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "feedback",
        "request_id": row.request_id,
        "rating": row.rating,
        "correction": row.correction,
        "tags": row.tags,
        "created_at": unix_time(row.created_at),
    }


def export_lines(rows: list[Feedback], kind: Literal["sft", "preference"]) -> Iterator[str]:
    """One JSON line per usable feedback row."""
    for row in rows:
        meta = {"request_id": row.request_id, "rating": row.rating, "tags": row.tags}
        if not row.prompt:
            continue
        if kind == "sft":
            target = row.correction or (row.answer if row.rating >= GOOD else None)
            if not target:
                continue
            messages = [
                {"role": "user", "content": row.prompt},
                {"role": "assistant", "content": target},
            ]
            yield json.dumps({"messages": messages, **meta}, ensure_ascii=False) + "\n"
        elif row.correction and row.answer:
            record = {"prompt": row.prompt, "chosen": row.correction, "rejected": row.answer}
            yield json.dumps(record | meta, ensure_ascii=False) + "\n"


def flagged_tags(rows: list[Feedback], min_bad: int = 3) -> dict[str, int]:
    """Tags carried by at least ``min_bad`` bad ratings: candidates for a policy rule."""
    counts = Counter(tag for row in rows if row.rating < 0 for tag in row.tags)
    return {tag: n for tag, n in counts.most_common() if n >= min_bad}
