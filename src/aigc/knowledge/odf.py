"""OpenDocument text and presentations (.odt, .odp): what LibreOffice and OpenOffice save.

An OpenDocument file is a zip whose ``content.xml`` holds the text. A document's body is read
in order: headings (``text:h`` with their outline level) open sections, paragraphs and list
items are paragraphs, tables are rows with their column names (``table_rows``, as Word tables
are; a header row the file marks, ``table:table-header-rows``, names the columns), sections
and frames (text boxes) are read where they stand, and a footnote's or endnote's text follows
the paragraph that cites it, marked as LibreOffice numbers it ([1]). A presentation is read
slide by slide, each a page under its title, with the speaker's notes after the slide's
text. Deleted text of tracked changes (``text:tracked-changes``) and comments are left out;
spaces (``text:s``), tabs and line breaks are kept as the application shows them.

The XML is parsed without entities or network access, after ``parse.check_zip`` has refused
zip bombs. Until 2026-12-05 both formats were refused with "save it as .docx / .pptx".
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aigc.knowledge import table_rows
from aigc.knowledge.parse import Block, DocumentRejected, HeadingPath

if TYPE_CHECKING:
    from lxml.etree import _Element

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
}
_TEXT, _TABLE, _DRAW, _OFFICE = ("{" + _NS[k] + "}" for k in ("text", "table", "draw", "office"))
MAX_TABLE_COLUMNS = 200  # a repeated empty column spans 16,384 in a spreadsheet-like table
MAX_SPACES = 100  # one <text:s text:c="…"/> could otherwise ask for a gigabyte of spaces


def content(data: bytes) -> _Element:
    """The parsed ``content.xml`` of an OpenDocument zip (checked by the caller)."""
    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            xml = archive.read("content.xml")
    except KeyError:
        raise DocumentRejected("The OpenDocument file has no content.xml") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(xml, parser)


def _inline(element: _Element, notes: list[str]) -> str:
    """The text of a paragraph as shown: spans, links and fields in order; ``text:s`` as its
    count of spaces; a note's citation as its mark, its body kept in ``notes``."""
    parts: list[str] = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == f"{_TEXT}s":
            spaces = child.get(f"{_TEXT}c", "1")
            parts.append(" " * min(int(spaces) if spaces.isdigit() else 1, MAX_SPACES))
        elif tag == f"{_TEXT}tab":
            parts.append("\t")
        elif tag == f"{_TEXT}line-break":
            parts.append("\n")
        elif tag == f"{_TEXT}note":
            mark = child.findtext("text:note-citation", default="", namespaces=_NS).strip()
            body = child.find("text:note-body", _NS)
            if body is not None:
                text = " ".join(_inline(p, notes) for p in body.iter(f"{_TEXT}p", f"{_TEXT}h"))
                notes.append(f"[{mark}] {text.strip()}" if mark else text.strip())
            parts.append(f"[{mark}]" if mark else "")
        elif tag in (f"{_TEXT}tracked-changes", f"{_OFFICE}annotation", f"{_DRAW}frame"):
            pass  # deleted text, comments; a frame inside a paragraph is read after it
        elif isinstance(tag, str):  # span, a, bookmark, field …
            parts.append(_inline(child, notes))
        parts.append(child.tail or "")
    return "".join(parts)


def _cells(row: _Element, notes: list[str]) -> list[str]:
    cells: list[str] = []
    for cell in row:
        if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
            continue
        text = "\n".join(_inline(p, notes).strip() for p in cell.iter(f"{_TEXT}p", f"{_TEXT}h"))
        repeated = cell.get(f"{_TABLE}number-columns-repeated", "1")
        repeat = int(repeated) if repeated.isdigit() else 1
        cells.extend([text.strip()] * min(repeat, MAX_TABLE_COLUMNS - len(cells)))
        if len(cells) >= MAX_TABLE_COLUMNS:
            break
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _table(table: _Element, notes: list[str]) -> list[str]:
    header = table.find("table:table-header-rows", _NS)
    rows = [_cells(r, notes) for r in table.iter(f"{_TABLE}table-row")]
    rows = [r for r in rows if any(r)]
    return table_rows.row_texts(rows, marked_header=header is not None)


class _Reader:
    """Walks a body in reading order, keeping the heading path."""

    def __init__(self) -> None:
        self.path = HeadingPath()
        self.headings: list[str] = []

    def blocks(self, parent: _Element, page: int | None = None) -> Iterator[Block]:
        for child in parent:
            tag = child.tag
            notes: list[str] = []
            if tag == f"{_TEXT}h":
                title = _inline(child, notes).strip()
                if title:
                    outline = child.get(f"{_TEXT}outline-level", "1")
                    level = int(outline) if outline.isdigit() else 1
                    self.headings = self.path.open(level, title)
                    yield Block(title, page, list(self.headings), boundary=True)
            elif tag == f"{_TEXT}p":
                text = _inline(child, notes).strip()
                if text:
                    yield Block(text, page, list(self.headings))
                for box in child.iter(f"{_DRAW}text-box"):  # anchored in it: read after it
                    yield from self.blocks(box, page)
            elif tag in (f"{_TEXT}list", f"{_TEXT}list-item", f"{_TEXT}list-header"):
                yield from self.blocks(child, page)  # items, nested lists, numbered headings
            elif tag == f"{_TABLE}table":
                for line in _table(child, notes):
                    yield Block(line, page, list(self.headings))
            elif tag == f"{_TEXT}section" or (isinstance(tag, str) and tag.startswith(_DRAW)):
                yield from self.blocks(child, page)  # frames, text boxes, groups, shapes
            elif tag == f"{_TEXT}tracked-changes" or tag == f"{_TEXT}table-of-content":
                continue  # deleted text; a contents page repeats the headings
            for note in notes:
                yield Block(note, page, list(self.headings))


def text_blocks(data: bytes) -> Iterator[Block]:
    """An OpenDocument text's blocks in reading order."""
    body = content(data).find("office:body/office:text", _NS)
    if body is None:
        raise DocumentRejected("The file is not an OpenDocument text (no text body)")
    yield from _Reader().blocks(body)


def slide_blocks(data: bytes, max_pages: int) -> Iterator[Block]:
    """An OpenDocument presentation's slides, each a page under its title (as PowerPoint
    slides are read): its text, then the speaker's notes."""
    body = content(data).find("office:body/office:presentation", _NS)
    if body is None:
        raise DocumentRejected("The file is not an OpenDocument presentation (no slides)")
    slides = body.findall("draw:page", _NS)
    if len(slides) > max_pages:
        raise DocumentRejected(f"The deck has {len(slides)} slides; limit {max_pages}")
    title_frame = "draw:frame[@presentation:class='title']"
    for number, slide in enumerate(slides, start=1):
        title = " ".join(
            _inline(p, []).strip() for p in slide.iterfind(f"{title_frame}//text:p", _NS)
        ).strip()
        notes = slide.find("presentation:notes", _NS)
        parts = [c for c in slide if c is not notes] + ([notes] if notes is not None else [])
        texts = [b.text for part in parts for b in _Reader().blocks(part)]
        for i, text in enumerate(texts):
            yield Block(text, page=number, headings=[title] if title else [], boundary=i == 0)
