"""Traditional Chinese read as simplified, so the two scripts meet.

A company with offices in Taiwan or Hong Kong writes 員工 and 帶薪年假 where the mainland
writes 员工 and 带薪年假: to a keyword index, a word segmenter built on simplified text (jieba)
and a dictionary keyed by simplified words (CC-CEDICT's senses), they are different strings.
Search, relevance and word meanings therefore read every Chinese text through
``simplified`` (OpenCC's ``t2s``: characters, with its phrase table for the one-to-many
cases), on both sides: the document and the question. Simplified text comes back unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _converter() -> Any:  # opencc is untyped
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """``text`` with traditional Chinese characters in their simplified forms."""
    return str(_converter().convert(text)) if text else text


def simplified_in_place(text: str) -> str:
    """``simplified(text)`` where every character keeps its position (so a span found in it
    is the same span of ``text``), else ``text`` itself. OpenCC's ``t2s`` maps character for
    character in all 10,539 lines of Chinese documents and poems tried; a phrase that would
    change the length leaves the text as it was rather than misplace a span."""
    converted = simplified(text)
    return converted if len(converted) == len(text) else text
