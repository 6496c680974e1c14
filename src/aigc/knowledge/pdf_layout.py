"""A PDF page's text as lines in reading order, from PDFium's text runs and their boxes.

PDFium gives the text of a page in content-stream order, so a table often comes out one cell
per line. Its text runs carry boxes, though: runs whose boxes share a baseline are one line,
and a wide gap between two runs on a line is a table cell boundary (`` | ``), as the parser's
other formats write table rows. Boxes are in page space, before /Rotate: a landscape table
stored on a /Rotate 90 page is drawn in horizontal rows there, and reads by rows.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pypdfium2 import PdfTextPage

# Presentation forms (ﬁ, ﬂ, ...) that pdfLaTeX fonts emit: unfolded so words are searchable.
_LIGATURES = {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
_TRANSLATE = str.maketrans(_LIGATURES | {"\u00ad": "", "\x02": "-"})


@dataclass
class Run:
    """One run of text with its box in page space (PDF points, y up)."""

    text: str
    left: float
    bottom: float
    right: float
    top: float

    @property
    def height(self) -> float:
        return max(self.top - self.bottom, 1.0)


def runs_of(textpage: PdfTextPage) -> list[Run]:
    """The page's text runs (PDFium's rectangles, in page space) with their text."""
    runs = []
    for i in range(textpage.count_rects()):
        box = textpage.get_rect(i)
        text = textpage.get_text_bounded(*box).replace("\r", "").replace("\n", " ")
        if text.strip():
            runs.append(Run(text, *box))
    return runs


def lines_of(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped into lines in the order the page draws them.

    A run continues the current line when its vertical middle lies within the line's first
    run's box and it starts to the right of the line's last run. Keeping the drawing order
    keeps columns apart (a two-column article draws one column, then the other), while a
    table row, drawn cell after cell on one baseline, stays one line."""
    lines: list[list[Run]] = []
    for run in runs:
        if lines:
            line = lines[-1]
            head, last = line[0], line[-1]
            middle = (run.top + run.bottom) / 2
            if head.bottom <= middle <= head.top and run.left >= last.right - 0.5 * head.height:
                line.append(run)
                continue
        lines.append([run])
    return lines


def line_text(line: list[Run]) -> str:
    """A line's runs joined: a gap wider than about two characters separates table cells."""
    out = line[0].text.strip()
    for prev, run in itertools.pairwise(line):
        gap = run.left - prev.right
        size = min(prev.height, run.height)
        if gap > 1.5 * size:
            out += " | "
        elif gap > 0.15 * size and not out.endswith(" "):
            out += " "
        out += run.text.strip()
    return out


def page_text(textpage: PdfTextPage) -> str:
    """The page as lines; a vertical gap of more than a line's height starts a paragraph."""
    runs = runs_of(textpage)
    if not runs:
        return ""
    lines = lines_of(runs)
    out: list[str] = []
    previous: list[Run] | None = None
    for line in lines:
        if previous is not None:
            gap = min(r.bottom for r in previous) - max(r.top for r in line)
            if gap > max(r.height for r in line) or gap < -previous[0].height:  # a new column
                out.append("")
        out.append(line_text(line))
        previous = line
    return "\n".join(out).translate(_TRANSLATE)
