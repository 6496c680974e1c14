"""A long text as windows of whole sentences, for the classifiers that read a bounded length.

The guard's text classifiers (harmful requests, offensive language, injected instructions)
read up to ``WINDOW`` characters at a time; they used to read a text's first 4,000 and no
more, so whatever came after a page of filler was never read by them, only by the rules.
A longer text is read window by window and the highest score counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

WINDOW = 4000  # characters, what each classifier read of a text before
_SENTENCE_CUT = re.compile(r"(?<=[.!?。！？\n])")


def windows(text: str, size: int = WINDOW) -> list[str]:
    """``text`` as consecutive pieces of whole sentences, each at most ``size`` characters (a
    longer sentence cut every ``size``); a text that fits is its own one piece."""
    if len(text) <= size:
        return [text]
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_CUT.split(text):
        for at in range(0, len(sentence), size):
            piece = sentence[at : at + size]
            if current and len(current) + len(piece) > size:
                out.append(current)
                current = ""
            current += piece
    out.append(current)
    return [piece for piece in out if piece.strip()] or [text[:size]]


def highest(scores: Callable[[list[str]], Iterable[float]], text: str) -> float:
    """The highest of ``scores`` (a classifier's batch scoring) over ``text``'s windows, each
    scored alone: a text of one window is hashed once for all the classifiers that read it
    (``textclf._hashed``), and so is each window of a longer one."""
    return max(float(max(scores([window]))) for window in windows(text))
