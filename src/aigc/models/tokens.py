"""A model-independent token estimate: words, punctuation, and one token per CJK character.

Used for limits before a model is chosen and by models without a tokenizer of their own.
"""

from __future__ import annotations

import math
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


# What an image in a chat message counts, as OpenAI bills it for its vision models (no local
# model reads an image as tokens, so usage and limits need one rule): ``low`` detail is a flat
# base; otherwise the image is scaled to fit 2048×2048, then down to 768 px on its shorter side,
# and every 512-px tile costs ``IMAGE_TILE_TOKENS`` more. ``auto`` counts as ``high``.
IMAGE_BASE_TOKENS = 85
IMAGE_TILE_TOKENS = 170


def image_tokens(width: int, height: int, detail: str = "auto") -> int:
    if detail == "low":
        return IMAGE_BASE_TOKENS
    scale = min(1.0, 2048 / max(width, height, 1))
    scale *= min(1.0, 768 / max(min(width, height) * scale, 1))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * max(tiles, 1)
