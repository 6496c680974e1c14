"""A model-independent token estimate: words, punctuation, and one token per CJK character.

Used for limits before a model is chosen and by models without a tokenizer of their own.
"""

from __future__ import annotations

import re

# A CJK ideograph/kana/hangul character, a run of letters/digits, or one other visible symbol.
_PIECE = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
    r"|[^\W_]+"
    r"|[^\s\w]|_",
    re.UNICODE,
)
_WITH_SPACE = re.compile(
    r"\s*(?:[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+|[^\s\w]|_)"
    r"|\s+$",
    re.UNICODE,
)


def count_tokens(text: str) -> int:
    return len(_PIECE.findall(text))


def split_tokens(text: str) -> list[str]:
    """Pieces whose concatenation is ``text`` (leading spaces stay with the following token)."""
    return _WITH_SPACE.findall(text)
