"""Text as search and the guard read it: one script, one width, nothing invisible.

A company with offices in Taiwan or Hong Kong writes 員工 and 帶薪年假 where the mainland
writes 员工 and 带薪年假; a Chinese input method types ＶＰＮ, １３８１２３４５６７８ and
ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ in full-width forms; text copied from web pages carries
zero-width spaces and soft hyphens, and an attacker can put them inside a word (炸\u200b弹) or
hide a whole instruction in invisible Unicode tag characters ("ASCII smuggling"). To a keyword
index, a word segmenter built on simplified text (jieba), a dictionary keyed by simplified
words (CC-CEDICT), the guard's rules and its character n-gram classifiers, each of these is
another string: 帶薪 did not find 带薪, a full-width phone number was no phone number,
"ｉｇｎｏｒｅ ａｌｌ ｐｒｅｖｉｏｕｓ ｉｎｓｔｒｕｃｔｉｏｎｓ" scored 0.02 as an injection, and an
instruction in tag characters 0.13. So they read text through ``canonical``:

- full-width letters, digits and symbols as ASCII (Chinese punctuation ，：；！？（） stays),
  and tag characters as the ASCII they encode (so the hidden instruction is read, not lost);
- invisible format characters (Unicode category Cf: zero-width spaces and joiners, soft
  hyphens, direction marks, the BOM) removed;
- traditional Chinese characters in their simplified forms (OpenCC's ``t2s``: characters,
  with its phrase table for the one-to-many cases).

Both sides go through it: the document and the question, the request and the rule's
keywords. What is stored and shown keeps the characters it was written in. A check that
reports where it found something (PII, a keyword rule) reads ``canonical_with_positions`` or
``visible_with_positions`` and maps each span back to the text as written (``span_in``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

# Full-width forms U+FF01–U+FF5E are ASCII U+0021–U+007E shifted; Chinese writing uses these
# six as punctuation of its own (a rule or a model may look for them), so they stay. Tag
# characters U+E0020–U+E007E are ASCII shifted too, and invisible.
# Wide (East Asian) characters for a regex class: CJK radicals and punctuation, kana, Han,
# compatibility ideographs, full-width forms. Text written in them has no spaces between words.
WIDE = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
_CHINESE_PUNCTUATION = set("！，：；？（）")
_ASCII_OF = {
    code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if chr(code) not in _CHINESE_PUNCTUATION
} | {code: code - 0xE0000 for code in range(0xE0020, 0xE007F)}


def _char_class(codes: Iterable[int]) -> re.Pattern[str]:
    """One regex character class of ``codes`` (ascending), written as ranges: a class of
    single characters is scanned one by one and was ten times slower."""
    runs: list[list[int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    ranges = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in runs)
    return re.compile(f"[{ranges}]")


_FOLDABLE = _char_class(sorted(_ASCII_OF))


@lru_cache(maxsize=1)
def _converter() -> Any:  # opencc is untyped
    import opencc

    return opencc.OpenCC("t2s")


def folded(text: str) -> str:
    """``text`` with full-width forms and tag characters as ASCII (character for character:
    every position kept)."""
    return text.translate(_ASCII_OF) if _FOLDABLE.search(text) else text


def _simplified(text: str) -> str:
    return str(_converter().convert(text)) if text else text


@lru_cache(maxsize=1)
def _invisible() -> re.Pattern[str]:
    """Unicode's format characters (Cf; planes 0, 1 and 14 hold them all) as one class."""
    codes = [*range(0x20000), *range(0xE0000, 0xE1000)]
    return _char_class(c for c in codes if unicodedata.category(chr(c)) == "Cf")


def canonical(text: str) -> str:
    """``text`` folded, without invisible characters, in simplified characters."""
    if text.isascii():  # nothing to fold, remove or convert
        return text
    return _simplified(_invisible().sub("", folded(text)))


def visible_with_positions(text: str) -> tuple[str, Sequence[int]]:
    """``text`` folded and without invisible characters, and for each character left its
    position in ``text`` (script unchanged: for checks that read both scripts themselves)."""
    if text.isascii():
        return text, range(len(text))
    folded_text = folded(text)
    hidden = {m.start() for m in _invisible().finditer(folded_text)}
    if not hidden:
        return folded_text, range(len(text))
    positions = [i for i in range(len(folded_text)) if i not in hidden]
    return "".join(folded_text[i] for i in positions), positions


def simplified_in_place(text: str) -> str:
    """``text`` in simplified characters where every character keeps its position, else
    ``text``: OpenCC's ``t2s`` maps character for character in all 10,539 lines of Chinese
    documents and poems tried; a phrase that would change the length is left as written
    rather than misplace a span."""
    converted = _simplified(text)
    return converted if len(converted) == len(text) else text


def canonical_with_positions(text: str) -> tuple[str, Sequence[int]]:
    """``canonical(text)`` (in simplified characters where that keeps every position) and,
    for each of its characters, its position in ``text``."""
    visible, positions = visible_with_positions(text)
    return simplified_in_place(visible), positions


def span_in(positions: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """A span ``[start, end)`` of a ``canonical_with_positions`` reading, in the text as
    written (invisible characters inside it included)."""
    return positions[start], positions[end - 1] + 1
