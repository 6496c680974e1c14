"""Refuse a JSON body whose strings hold what is no text, with a 400 and not a 500.

Two things JSON lets a string escape and no part of the platform can keep:
- half of a UTF-16 surrogate pair with no partner ("\\ud800"): Python's json module reads it
  into a ``str`` that no UTF-8 encoder accepts, and every part that encodes text failed on it
  with a 500 (the guard's script conversion on ``/v1/moderations``, tokenizers, the database);
- the NUL character ("\\u0000"): PostgreSQL's text columns cannot hold it, so a tenant, key or
  knowledge-base name, a conversation or anything else stored failed with a 500 there, while
  SQLite kept it (one behaviour for both databases: refused on both).

Cheap for every other request: the raw body is scanned for such an escape (a C search over
the bytes as they arrive); only a body with one is parsed here and its strings checked, since
emoji sent as escaped pairs ("\\ud83d\\ude00", what ``ensure_ascii`` writes) are text, and an
escaped backslash before "u0000" is the six characters \\u0000.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
_NO_TEXT = re.compile("[\ud800-\udfff\x00]")  # after parsing, a pair is one character


class UnusableTextWatch:
    """Fed a JSON body chunk by chunk; says at the end what a string holds that is no text."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._tail = b""  # an escape may straddle two chunks
        self._suspect = False

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        if not self._suspect and _SUSPECT_ESCAPE.search(self._tail + chunk):
            self._suspect = True
        self._tail = chunk[-5:]

    def problem(self) -> str | None:
        """What is wrong, in words for the caller, or None. Asked once, after the last chunk
        (the chunks are let go then: a stream's request should not keep its body alive until
        the stream ends)."""
        chunks, self._chunks = self._chunks, []
        if not self._suspect:
            return None
        try:
            value = json.loads(b"".join(chunks))
        except ValueError:
            return None  # not JSON at all: the route's own parsing says so
        found = _first_unusable(value)
        if found is None:
            return None
        if found == "\x00":
            return "a string holds the NUL character (\\u0000), which cannot be stored"
        return (
            "a string holds a lone UTF-16 surrogate (an escape such as \\ud800 without its "
            "pair), which is no character"
        )


def _first_unusable(value: Any) -> str | None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found = _NO_TEXT.search(item)
            if found:
                return found.group()
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None
