"""Refuse a JSON body whose strings hold a lone UTF-16 surrogate, with a 400 and not a 500.

JSON lets a string escape half of a surrogate pair ("\\ud800" with no partner). Python's json
module reads it into a ``str`` that no UTF-8 encoder accepts, and every part that encodes text
failed on it with a 500: the guard's script conversion on ``/v1/moderations``, tokenizers, the
database. Such a string holds no character, so the request is refused as invalid JSON.

Cheap for every other request: the raw body is scanned for a surrogate escape (a C search over
the bytes as they arrive); only a body with one is parsed here and its strings checked, since
emoji sent as escaped pairs ("\\ud83d\\ude00", what ``ensure_ascii`` writes) are fine.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # after parsing, a pair is one character


class SurrogateWatch:
    """Fed a JSON body chunk by chunk; says at the end whether a string holds a lone one."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._tail = b""  # an escape may straddle two chunks
        self._escaped = False

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        if not self._escaped and _SURROGATE_ESCAPE.search(self._tail + chunk):
            self._escaped = True
        self._tail = chunk[-5:]

    def holds_lone_surrogate(self) -> bool:
        """Asked once, after the last chunk (the chunks are let go then: a stream's request
        should not keep its body alive until the stream ends)."""
        chunks, self._chunks = self._chunks, []
        if not self._escaped:
            return False
        try:
            value = json.loads(b"".join(chunks))
        except ValueError:
            return False  # not JSON at all: the route's own parsing says so
        return _holds_lone_surrogate(value)


def _holds_lone_surrogate(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
