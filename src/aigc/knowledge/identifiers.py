"""Codes a person looks up exactly: an employee number, a document or order number, a ticket.

"工号HC-0105有几天年假？" asks about one row of a table. BM25 cuts HC-0105 into hc and 0105 and
weighs them with the question's other words, the vectors read it as noise, and the fused
ranking put four other employees' rows first; a document number holding a year (BX-2024-0456)
lost to a spreadsheet whose title says 2024. A chunk that holds the code as written is what
was asked for, so the search ranks the candidates holding every code of the question first,
when few of them do: a code found in many chunks ("10-K" on every page of a filing) tells
them apart no better than any word, and is left to the ranking.
"""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aigc.infra.canonical_text import canonical
from aigc.knowledge.tables import KbChunk

# Letters and digits, maybe joined by - _ / . (HC-0105, TZ00123, BX-2024-0456, 2024-05-01).
_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]+(?:[-_/.][A-Za-z0-9]+)*(?![A-Za-z0-9])")
# A period is no code: the search reads periods through their own terms (context.py).
_PERIOD = re.compile(r"(?:FY|CY|Q[1-4]|H[12])?'?\d{2,4}(?:Q[1-4]|H[12])?", re.I)
MIN_LENGTH = 4
MIN_BARE_DIGITS = 6  # a number alone is a code from six digits on (20240456), not a count
MAX_HOLDERS = 5  # a code held by more of the candidates tells them apart no better than a word


def identifiers(query: str) -> list[str]:
    """The codes ``query`` names, lower-cased, read through ``canonical`` (full-width ＢＸ－２
    is BX-2), in order, each once."""
    found: list[str] = []
    for match in _TOKEN.finditer(canonical(query)):
        token = match.group()
        if len(token) < MIN_LENGTH or not any(c.isdigit() for c in token):
            continue
        lettered = any(c.isalpha() for c in token)
        joined = any(c in "-_/." for c in token)
        if not (lettered or joined or len(token) >= MIN_BARE_DIGITS):
            continue
        if _PERIOD.fullmatch(token):
            continue
        found.append(token.lower())
    return list(dict.fromkeys(found))


def holders(session: Session, tenant_id: str, chunk_ids: list[int], query: str) -> Counter[int]:
    """Of the candidate chunks, how many of the query's codes each holds as written (case
    aside), counting only codes held by at most ``MAX_HOLDERS`` of them. One query: the
    chunks holding any code, then each code counted in their text."""
    counts: Counter[int] = Counter()
    codes = identifiers(query)
    if not codes or not chunk_ids:
        return counts
    rows = session.execute(
        select(KbChunk.id, KbChunk.text).where(
            KbChunk.tenant_id == tenant_id,
            KbChunk.id.in_(chunk_ids),
            or_(*(func.lower(KbChunk.text).contains(code, autoescape=True) for code in codes)),
        )
    ).all()
    texts = {chunk_id: text.lower() for chunk_id, text in rows}
    for code in codes:
        held = [chunk_id for chunk_id, text in texts.items() if code in text]
        if len(held) <= MAX_HOLDERS:
            counts.update(held)
    return counts
