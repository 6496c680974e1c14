"""Blocks to chunks: passages of at most ``max_tokens`` that respect the document's structure.

Packing order of preference: whole blocks (paragraphs, table rows) → sentences → token windows.
A chunk never crosses a boundary (a heading, a page, a record), so each chunk has one page and
one heading path to cite. Consecutive chunks of the same section overlap by up to
``overlap_tokens`` worth of whole sentences, so a fact split across the seam is found in both.

Sentences end at . ! ? (followed by a space) and at the Chinese 。！？； (and their
closing quotes), which need no space after them: Chinese has none between words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from aigc.knowledge.parse import Block

if TYPE_CHECKING:  # loaded on first use
    from tokenizers import Tokenizer

# A sentence ends after Chinese terminal punctuation (and any closing quote), which needs no
# space after it; after . ! ? followed by whitespace; and at a line break.
_SENTENCE_SPLIT = re.compile(
    r"(?<=[。！？；])(?![”’」』）])"  # after 。！？； unless a closing quote follows
    r"|(?<=[。！？；][”’」』）])"  # after the closing quote
    r"|(?<=[.!?])\s+"
    r"|\n+"
)


# Encoded data in a document's text (an image pasted into Markdown as a data: URI, a base64
# column of an exported table): a 30 KB image became 125 chunks of noise, each embedded,
# indexed and citable. A run of 256 base64 characters or more with digits and both cases (no
# word of any language looks so) is replaced by a mark that says what was there.
_ENCODED_RUN = re.compile(
    r"(?:data:[\w.+-]+/[\w.+-]+;base64,)?(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{256,}={0,2}"
)
_ENCODED_LOOK = (re.compile(r"\d"), re.compile(r"[a-z]"), re.compile(r"[A-Z]"))
# A chunk holds at most this many characters per token of its budget: a run that the embedding
# model's tokenizer reads as one unknown token (a 40 KB "word" without spaces) counted as one
# token and made one 40 KB chunk.
MAX_CHARS_PER_TOKEN = 12


def _without_encoded_data(text: str) -> str:
    def mark(run: re.Match[str]) -> str:
        found = run.group()
        if not all(look.search(found) for look in _ENCODED_LOOK):
            return found
        return f"[encoded data, {len(found):,} characters]"

    return _ENCODED_RUN.sub(mark, text) if len(text) >= 256 else text


@dataclass
class Chunk:
    text: str
    page: int | None
    headings: list[str]
    tokens: int
    meta: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=4)
def _hf_tokenizer(path: str) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()  # the file may pad/truncate to the model's length: we want counts
    tokenizer.no_truncation()
    return tokenizer


def token_counter(model_dir: Path | None = None) -> Callable[[str], int]:
    """Counts tokens the way the embedding model will (its own tokenizer.json)."""
    from aigc.knowledge.embed import default_model_dir

    path = Path(model_dir or default_model_dir()) / "tokenizer.json"
    if not path.is_file():  # a model without a fast tokenizer file: ~4 chars per token
        return lambda text: max(1, len(text) // 4)
    tokenizer = _hf_tokenizer(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def split_sentences(text: str) -> list[str]:
    """Sentences of mixed Chinese/English text, each keeping its end punctuation."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]


def _hard_split(sentence: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """A sentence longer than a chunk (a run-on line, a table dump): cut by characters."""
    pieces, start = [], 0
    while start < len(sentence):
        lo, hi = start + 1, min(len(sentence), start + max_tokens * MAX_CHARS_PER_TOKEN)
        while lo < hi:  # the longest prefix within budget (binary search on characters)
            mid = (lo + hi + 1) // 2
            if count(sentence[start:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(sentence[start:lo])
        start = lo
    return pieces


Unit = tuple[str, int, bool]  # text, tokens, whether it starts a block


def _units(block: Block, max_tokens: int, count: Callable[[str], int]) -> list[Unit]:
    """A block as packable units: itself if it fits, else its sentences (cut if need be)."""
    max_chars = max_tokens * MAX_CHARS_PER_TOKEN
    n = count(block.text)
    if n <= max_tokens and len(block.text) <= max_chars:
        return [(block.text, n, True)]
    units: list[tuple[str, int]] = []
    for sentence in split_sentences(block.text):
        m = count(sentence)
        if m <= max_tokens and len(sentence) <= max_chars:
            units.append((sentence, m))
        else:
            units.extend((p, count(p)) for p in _hard_split(sentence, max_tokens, count))
    return [(text, tokens, i == 0) for i, (text, tokens) in enumerate(units)]


def _join(parts: list[Unit]) -> str:
    """Blocks join with a newline; sentences of one block with a space, or nothing between
    Chinese sentences (Chinese puts no space between them)."""
    out = ""
    for text, _, starts_block in parts:
        if out:
            if starts_block:
                out += "\n"
            elif not (_is_cjk(out[-1]) or _is_cjk(text[0])):
                out += " "
        out += text
    return out


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def chunk_blocks(
    blocks: Iterable[Block],
    count: Callable[[str], int],
    max_tokens: int = 200,
    overlap_tokens: int = 40,
) -> list[Chunk]:
    chunks: list[Chunk] = []
    parts: list[Unit] = []
    where: Block | None = None
    max_chars = max_tokens * MAX_CHARS_PER_TOKEN

    def too_big(parts: list[Unit], unit: Unit) -> bool:
        tokens = sum(u[1] for u in parts) + unit[1]
        return tokens > max_tokens or sum(len(u[0]) for u in parts) + len(unit[0]) > max_chars

    def flush(keep_overlap: bool) -> None:
        nonlocal parts
        if not parts or where is None:
            parts = []
            return
        text = _join(parts)
        chunks.append(Chunk(text, where.page, list(where.headings), count(text), dict(where.meta)))
        if not keep_overlap:
            parts = []
            return
        carried: list[Unit] = []
        budget = overlap_tokens
        for piece in reversed(parts):  # whole trailing sentences within the overlap budget
            if piece[1] > budget:
                break
            carried.insert(0, piece)
            budget -= piece[1]
        parts = carried

    for block in blocks:
        block = replace(block, text=_without_encoded_data(block.text))
        if (
            where is None
            or block.boundary
            or block.page != where.page
            or block.headings != where.headings
        ):
            flush(keep_overlap=False)
            where = block
        for unit in _units(block, max_tokens, count):
            if parts and too_big(parts, unit):
                flush(keep_overlap=True)
                while parts and too_big(parts, unit):
                    parts.pop(0)
            parts.append(unit)
    flush(keep_overlap=False)
    return _drop_pure_overlap(chunks)


def _drop_pure_overlap(chunks: list[Chunk]) -> list[Chunk]:
    """A chunk wholly contained in its predecessor (only carried overlap) adds nothing."""
    kept: list[Chunk] = []
    for chunk in chunks:
        if kept and chunk.text in kept[-1].text and chunk.headings == kept[-1].headings:
            continue
        kept.append(chunk)
    return kept
