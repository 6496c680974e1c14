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


def same_line(run: Run, bottom: float, top: float) -> bool:
    """A box from ``bottom`` to ``top`` shares a line with ``run`` when they overlap by a third
    of the smaller height (a comma or a superscript hangs below or above the line)."""
    overlap = min(run.top, top) - max(run.bottom, bottom)
    return overlap >= 0.3 * min(run.height, max(top - bottom, 1.0))


def near(run: Run, left: float, bottom: float, right: float, top: float) -> bool:
    """A character continues ``run``: on its line, and within about a character and a half of
    either end (right to left scripts extend a run leftwards)."""
    reach = 1.5 * run.height
    return same_line(run, bottom, top) and run.left - reach <= right and left <= run.right + reach


def runs_of(textpage: PdfTextPage) -> list[Run]:
    """The page's characters gathered into runs: a run ends at a line break, where the next
    character sits on another line or away from the run, and at a gap wider than about a
    character and a half (a table's column gap). One pass over the characters and their
    boxes: asking PDFium for the text of each of its rectangles is quadratic on a filing."""
    import pypdfium2.raw as raw

    runs: list[Run] = []
    current: Run | None = None
    for i in range(textpage.count_chars()):
        ch = chr(raw.FPDFText_GetUnicode(textpage, i))
        if ch in "\r\n\x00":
            current = None
            continue
        if ch.isspace():
            if current is not None and not current.text.endswith(" "):
                current.text += " "
            continue
        left, bottom, right, top = textpage.get_charbox(i)
        if current is not None and (
            unicodedata.category(ch).startswith("M")  # a combining mark (Thai, Arabic vowels)
            or (right - left) * (top - bottom) <= 0  # no box: a ligature's second letter
            or near(current, left, bottom, right, top)
        ):
            current.text += ch
            if (right - left) * (top - bottom) > 0:
                current.left, current.right = min(current.left, left), max(current.right, right)
            continue
        current = Run(ch, left, bottom, right, top)
        runs.append(current)
    return runs


def lines_of(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped into lines in the order the page draws them.

    A run continues the current line when it shares the line of the line's first run and
    starts to the right of the line's last run. Keeping the drawing order
    keeps columns apart (a two-column article draws one column, then the other), while a
    table row, drawn cell after cell on one baseline, stays one line."""
    lines: list[list[Run]] = []
    for run in runs:
        if lines:
            line = lines[-1]
            head, last = line[0], line[-1]
            if same_line(head, run.bottom, run.top) and run.left >= last.right - 0.5 * head.height:
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
