"""Running heads and feet: the lines a paged document repeats at the top or bottom of its pages.

A filing's pages end in "Pfizer Inc. | 2021 Form 10-K | 45" or a bare page number and start
with a "Table of Contents" link; a Chinese manual's pages open with its title and close with
"3/55". Left in, every page's first and last chunk carries them: a page number in a chunk
matches any number a query holds, the title weighs nothing that the chunk's context header
does not already say, and a citation shows them as if they were the passage's words. A line is
such a line when, with its digits read as one placeholder ("第#页", "# | Verizon # Annual
Report"), it stands among the first or last two lines of at least two in five of the pages
(and of three pages at least), and is the same line on each, or differs only in a number that
counts the pages (a templated line whose number is a quarter's figure is the page's text).
Only the pages' outermost lines are taken off, top and bottom, at most two each, so the same
words in a page's body stay; the first page keeps all of its lines (a cover's first line is
the document's title, ``context.document_title``).
"""

from __future__ import annotations

import re
from collections import Counter

MIN_PAGES = 4  # a shorter document has no running lines to speak of
SHARE = 0.4  # of the pages that must repeat a line at their edge
EDGE = 2  # lines at each edge of a page that are looked at (and at most taken off)
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def _shape(line: str) -> str:
    return _SPACE.sub(" ", _DIGITS.sub("#", line)).strip()


def _edges(lines: list[str]) -> list[str]:
    return lines[:EDGE] + lines[max(EDGE, len(lines) - EDGE) :]


def _numbers(line: str) -> list[int]:
    return [int(d) for d in _DIGITS.findall(line)[:4]]


def _follows_the_pages(found: list[tuple[int, str]]) -> bool:
    """Whether a shape's lines are one line repeated, or differ only in a number that counts
    the pages (45, 46, 47 … on consecutive pages: the page number, whatever else is fixed)."""
    if len({line for _, line in found}) == 1:
        return True
    numbers = [_numbers(line) for _, line in found]
    if len({len(n) for n in numbers}) != 1:
        return False
    varying = [k for k in range(len(numbers[0])) if len({n[k] for n in numbers}) > 1]
    if len(varying) != 1:
        return False
    offsets = Counter(n[varying[0]] - page for (page, _), n in zip(found, numbers, strict=True))
    return offsets.most_common(1)[0][1] >= 0.6 * len(found)


def running_shapes(pages: list[list[str]]) -> set[str]:
    """The shapes of the lines the pages (each a list of non-empty lines) repeat at an edge:
    the same line, or the same line but for the page's number."""
    if len(pages) < MIN_PAGES:
        return set()
    seen: dict[str, list[tuple[int, str]]] = {}
    for page, lines in enumerate(pages):
        for line in dict.fromkeys(_edges(lines)):
            found = seen.setdefault(_shape(line), [])
            if not found or found[-1][0] != page:
                found.append((page, line))
    need = max(3, SHARE * len(pages))
    return {
        shape
        for shape, found in seen.items()
        if shape and len(found) >= need and _follows_the_pages(found)
    }


def without_running_lines(texts: list[str]) -> tuple[list[str], int]:
    """Each page's text without its running head and foot (the first page's as it is), and
    how many lines were taken off. Blank lines (paragraph breaks) are kept; a page that is
    nothing but such lines is left as it is."""
    pages = [[line.strip() for line in text.splitlines() if line.strip()] for text in texts]
    running = running_shapes(pages)
    if not running:
        return texts, 0
    out, removed = texts[:1], 0
    for text in texts[1:]:
        lines = text.splitlines()
        filled = [i for i, line in enumerate(lines) if line.strip()]
        drop: set[int] = set()
        for order in (filled[:EDGE], filled[::-1][:EDGE]):
            for i in order:
                if _shape(lines[i]) not in running:
                    break
                drop.add(i)
        if len(drop) == len(filled):
            out.append(text)
            continue
        removed += len(drop)
        out.append("\n".join(line for i, line in enumerate(lines) if i not in drop))
    return out, removed
