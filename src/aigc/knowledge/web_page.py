"""An HTML page's text in reading order, with its heading path.

Pages put their text in paragraphs and list items, and as often in bare ``<div>``s and
``<span>``s with ``<br>`` between lines. The parser before this one read only p, li, h1–h6,
pre, blockquote, dd and tables, so a ``<div>``'s text was lost whenever the page had a single
``<p>``; and it joined every piece of text with a space, so a bold word inside Chinese text
came out as 员工 **每年** 享有 with spaces around it. Here the page is walked node by node: a
heading opens a section, a table is read row by row (``table_rows``), ``<pre>`` keeps its
lines, every other block-level element ends the run of text before and after it, ``<br>``
breaks a line, and inline elements join their text as written.

Left out: scripts, styles, templates, the ``<head>``, form controls, navigation (``<nav>``,
``role="navigation"``: a site's menu repeated on every page is no content of it), and what
the page hides from its readers (``hidden``, ``aria-hidden="true"``, ``display: none``,
``visibility: hidden``): text a person cannot see is no part of the document they uploaded,
and a classic place to hide instructions for a model.

The walk uses its own stack, not recursion: a page nested a thousand elements deep is read,
not refused for Python's recursion limit.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aigc.infra.canonical_text import WIDE
from aigc.knowledge import table_rows
from aigc.knowledge.number_formats import format_number
from aigc.knowledge.parse import Block, HeadingPath
from aigc.knowledge.safe_xml import integer

if TYPE_CHECKING:
    from bs4 import Tag
    from bs4.element import PageElement

_SKIP = frozenset(
    {"script", "style", "noscript", "template", "svg", "head", "nav", "button", "select"}
    | {"textarea", "iframe", "object", "canvas", "math"}
)
_BLOCK = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details"}
    | {"dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"}
    | {"header", "hr", "html", "legend", "li", "main", "ol", "p", "section", "summary", "ul"}
    | {"td", "th", "tr", "tbody", "thead", "tfoot"}
)
_HEADING = re.compile(r"^h[1-6]$")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Source whitespace: a blank line breaks the line (a page of bare text keeps its paragraphs),
# a line break between two Chinese or Japanese characters is nothing (as CSS's segment-break
# rule renders it: 病假需提供⏎医院证明 is one word run), any other run of it is one space.
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
_WIDE_BREAK = re.compile(rf"(?<=[{WIDE}])[^\S\n]*\n\s*(?=[{WIDE}])")
_ANY_SPACE = re.compile(r"\s+")
_ENTER, _LEAVE = 0, 1
# An ordered list's ``type`` attribute, as Word's number formats name them.
_LIST_FORMATS = {"a": "lowerLetter", "A": "upperLetter", "i": "lowerRoman", "I": "upperRoman"}


def blocks(markup: str) -> list[Block]:
    """The page's blocks: headings (opening a section), text runs, table rows."""
    from bs4 import BeautifulSoup

    return _Reader().read(BeautifulSoup(markup, "html.parser"))


def _shown(tag: Tag) -> bool:
    if tag.name in _SKIP or tag.get("role") == "navigation":
        return False
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return False
    return not _HIDDEN_STYLE.search(str(tag.get("style") or ""))


def _source_text(text: str) -> str:
    """A text node's whitespace as a browser renders it (see the patterns above)."""
    lines = _BLANK_LINE.split(text)
    return "\n".join(_ANY_SPACE.sub(" ", _WIDE_BREAK.sub("", line)) for line in lines)


def _one_line(tag: Tag) -> str:
    """What a heading or a table cell shows, read like any text, as one line."""
    blocks = _Reader().read(*tag.children)
    return " ".join(" ".join(b.text.split()) for b in blocks)


class _Reader:
    def __init__(self) -> None:
        self.out: list[Block] = []
        self.run: list[str] = []
        self.path = HeadingPath()
        self.numbers: dict[int, int] = {}  # an ordered list → the number of its last item

    def read(self, *nodes: PageElement) -> list[Block]:
        from bs4 import NavigableString, Tag

        stack: list[tuple[int, PageElement]] = [(_ENTER, node) for node in reversed(nodes)]
        while stack:
            step, node = stack.pop()
            if step == _LEAVE:
                self.flush()
                continue
            if isinstance(node, NavigableString):
                if type(node) is NavigableString:  # not a comment, doctype or CDATA
                    self.run.append(_source_text(str(node)))
                continue
            if not isinstance(node, Tag) or not _shown(node):
                continue
            name = node.name
            if name == "br":
                self.run.append("\n")
            elif _HEADING.match(name):
                self.heading(int(name[1]), _one_line(node))
            elif name == "table":
                self.flush()
                self.table(node)
            elif name == "pre":
                self.flush()
                self.add(node.get_text().strip("\n"))
            else:
                if name in _BLOCK:
                    self.flush()
                    stack.append((_LEAVE, node))
                if name == "li" and node.parent is not None and node.parent.name == "ol":
                    self.run.append(self.item_marker(node.parent, node))
                stack.extend((_ENTER, child) for child in reversed(list(node.children)))
        self.flush()
        return self.out

    def item_marker(self, ol: Tag, li: Tag) -> str:
        """The number a browser draws before an item of an ordered list ("3. ", "c. "): the
        list's ``start``, ``reversed`` and ``type``, an item's own ``value``. A page's steps
        read as unnumbered lines without it, and "第3步" or "step 3" found nothing."""
        key, step = id(ol), -1 if ol.has_attr("reversed") else 1
        if key not in self.numbers:  # the number before the first item's
            first = len(ol.find_all("li", recursive=False)) if step < 0 else 1
            self.numbers[key] = integer(ol.get("start"), first) - step
        self.numbers[key] = integer(li.get("value"), self.numbers[key] + step)
        kind = str(li.get("type") or ol.get("type") or "1")
        return format_number(self.numbers[key], _LIST_FORMATS.get(kind, "decimal")) + ". "

    def add(self, text: str, boundary: bool = False) -> None:
        if text.strip():
            self.out.append(Block(text, headings=list(self.path.titles), boundary=boundary))

    def flush(self) -> None:
        lines = (" ".join(line.split()) for line in "".join(self.run).split("\n"))
        self.run = []
        self.add("\n".join(line for line in lines if line))

    def heading(self, level: int, title: str) -> None:
        self.flush()
        if not title:
            return
        self.path.open(level, title)
        self.add(title, boundary=True)

    def table(self, table: Tag) -> None:
        rows = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
        cells = _grid(rows)
        first = rows[0].find_all(["th", "td"], recursive=False) if rows else []
        marked = bool(rows) and (
            rows[0].find_parent("thead") is not None or all(c.name == "th" for c in first)
        )
        for line in table_rows.row_texts(cells, marked):
            self.add(line)


_SPAN_COLUMNS = 200  # spans fill columns up to here; a cell beyond stands in its own column


def _grid(rows: list[Tag]) -> list[list[str]]:
    """A table's cells in the columns they stand in: a cell spanning rows (``rowspan``: a
    region over its cities) stands in each row it spans, one spanning columns in each column.
    Read row by row, the rows below a rowspan cell shifted left, and every value after it took
    the wrong column's name ("地区: 天津; 城市: 450")."""
    grid: list[list[str | None]] = [[] for _ in rows]
    for r, tr in enumerate(rows):
        column = 0
        for cell in tr.find_all(["th", "td"], recursive=False):
            while column < len(grid[r]) and grid[r][column] is not None:
                column += 1  # a place a cell above already fills
            text = _one_line(cell)
            down = integer(cell.get("rowspan"), 1)
            down = len(rows) - r if down <= 0 else min(down, len(rows) - r)  # 0: to the end
            across = max(1, min(integer(cell.get("colspan"), 1), _SPAN_COLUMNS - column))
            for below in range(r, r + down):
                row = grid[below]
                row.extend([None] * (column + across - len(row)))
                row[column : column + across] = [text] * across
            column += across
    return [[text or "" for text in row] for row in grid]
