"""OpenDocument text and presentations (.odt, .odp): what LibreOffice and OpenOffice save.

An OpenDocument file is a zip whose ``content.xml`` holds the text. A document's body is read
in order: headings (``text:h`` with their outline level) open sections, paragraphs and list
items are paragraphs, tables are rows with their column names (``table_rows``, as Word tables
are; a header row the file marks, ``table:table-header-rows``, names the columns), sections
and frames (text boxes) are read where they stand, and a footnote's or endnote's text follows
the paragraph that cites it, marked as LibreOffice numbers it ([1]). A presentation is read
slide by slide, each a page under its title, with the speaker's notes after the slide's
text. Deleted text of tracked changes (``text:tracked-changes``), comments and text the
application does not show (a hidden character style, hidden text and paragraph fields, a
hidden section) are left out;
spaces (``text:s``), tabs and line breaks are kept as the application shows them.

The XML is parsed without entities or network access, after ``parse.check_zip`` has refused
zip bombs. Until 2026-12-05 both formats were refused with "save it as .docx / .pptx".
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aigc.knowledge import failure_codes, safe_xml, table_rows
from aigc.knowledge.parse import Block, DocumentRejected, HeadingPath

if TYPE_CHECKING:
    from lxml.etree import _Element

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
}
_TEXT, _TABLE, _DRAW, _OFFICE, _STYLE = (
    "{" + _NS[k] + "}" for k in ("text", "table", "draw", "office", "style")
)
MAX_TABLE_COLUMNS = 200  # a repeated empty column spans 16,384 in a spreadsheet-like table
MAX_SPACES = 100  # one <text:s text:c="…"/> could otherwise ask for a gigabyte of spaces
_NOT_INLINE = {
    f"{_TEXT}tracked-changes",
    f"{_OFFICE}annotation",
    f"{_DRAW}frame",
    f"{_TEXT}hidden-text",
    f"{_TEXT}hidden-paragraph",
}


def _part(archive: zipfile.ZipFile, name: str) -> _Element | None:
    try:
        return safe_xml.zip_part(archive, name)
    except KeyError:
        return None


def content(data: bytes) -> tuple[_Element, frozenset[str]]:
    """The parsed ``content.xml`` of an OpenDocument zip (checked by the caller), and the
    names of its styles that hide text (``text:display="none"``, LibreOffice's Hidden
    character attribute, also by inheritance from ``styles.xml``'s styles)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = _part(archive, "content.xml")
        if root is None:
            raise DocumentRejected(
                "The OpenDocument file has no content.xml", failure_codes.ODF_NO_CONTENT
            )
        styles = _part(archive, "styles.xml")
    parents: dict[str, str] = {}
    hidden: set[str] = set()
    for tree in (styles, root):
        if tree is None:
            continue
        for style in tree.iter(f"{_STYLE}style"):
            name = style.get(f"{_STYLE}name", "")
            parents[name] = style.get(f"{_STYLE}parent-style-name", "")
            properties = style.find("style:text-properties", _NS)
            if properties is not None and properties.get(f"{_TEXT}display") == "none":
                hidden.add(name)
    for name in parents:  # a style hides text if a style it inherits from does
        seen, current = set(), name
        while current and current not in hidden and current not in seen:
            seen.add(current)
            current = parents.get(current, "")
        if current in hidden:
            hidden.add(name)
    return root, frozenset(hidden)


class _Reader:
    """Walks a body in reading order, keeping the heading path. Text the application does
    not show is left out, as it is from Word files (``word.py``): a hidden character style,
    hidden text fields, a hidden paragraph. It is where a document can carry instructions
    for a model that its reader never sees."""

    def __init__(self, hidden: frozenset[str]) -> None:
        self.hidden = hidden
        self.path = HeadingPath()
        self.headings: list[str] = []

    def _shown(self, element: _Element) -> bool:
        if element.get(f"{_TEXT}style-name") in self.hidden:
            return False
        hides = element.find("text:hidden-paragraph", _NS)
        return hides is None or hides.get(f"{_TEXT}is-hidden") == "false"

    def inline(self, element: _Element, notes: list[str]) -> str:
        """The text of a paragraph as shown: spans, links and fields in order; ``text:s`` as
        its count of spaces; a note's citation as its mark, its body kept in ``notes``."""
        if not self._shown(element):
            return ""
        parts: list[str] = [element.text or ""]
        for child in element:
            tag = child.tag
            if tag == f"{_TEXT}s":
                spaces = safe_xml.integer(child.get(f"{_TEXT}c"), 1)
                parts.append(" " * max(0, min(spaces, MAX_SPACES)))
            elif tag == f"{_TEXT}tab":
                parts.append("\t")
            elif tag == f"{_TEXT}line-break":
                parts.append("\n")
            elif tag == f"{_TEXT}note":
                mark = child.findtext("text:note-citation", default="", namespaces=_NS).strip()
                body = child.find("text:note-body", _NS)
                if body is not None:
                    paras = body.iter(f"{_TEXT}p", f"{_TEXT}h")
                    text = " ".join(self.inline(p, notes) for p in paras).strip()
                    notes.append(f"[{mark}] {text}" if mark else text)
                parts.append(f"[{mark}]" if mark else "")
            elif tag in _NOT_INLINE:
                pass  # deleted text, comments, hidden text; a frame is read after the paragraph
            elif isinstance(tag, str):  # span, a, bookmark, field …
                parts.append(self.inline(child, notes))
            parts.append(child.tail or "")
        return "".join(parts)

    def _cells(self, row: _Element, notes: list[str]) -> list[str]:
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                continue
            paras = cell.iter(f"{_TEXT}p", f"{_TEXT}h")
            text = "\n".join(self.inline(p, notes).strip() for p in paras)
            repeat = max(0, safe_xml.integer(cell.get(f"{_TABLE}number-columns-repeated"), 1))
            cells.extend([text.strip()] * min(repeat, MAX_TABLE_COLUMNS - len(cells)))
            if len(cells) >= MAX_TABLE_COLUMNS:
                break
        while cells and not cells[-1]:
            cells.pop()
        return cells

    def _table(self, table: _Element, notes: list[str]) -> list[str]:
        header = table.find("table:table-header-rows", _NS)
        rows = [self._cells(r, notes) for r in table.iter(f"{_TABLE}table-row")]
        rows = [r for r in rows if any(r)]
        return table_rows.row_texts(rows, marked_header=header is not None)

    def blocks(self, parent: _Element, page: int | None = None) -> Iterator[Block]:
        for child in parent:
            tag = child.tag
            notes: list[str] = []
            if tag == f"{_TEXT}h":
                title = self.inline(child, notes).strip()
                if title:
                    level = max(1, safe_xml.integer(child.get(f"{_TEXT}outline-level"), 1))
                    self.headings = self.path.open(level, title)
                    yield Block(title, page, list(self.headings), boundary=True)
            elif tag == f"{_TEXT}p":
                text = self.inline(child, notes).strip()
                if text:
                    yield Block(text, page, list(self.headings))
                if self._shown(child):
                    for box in child.iter(f"{_DRAW}text-box"):  # anchored in it: read after it
                        yield from self.blocks(box, page)
            elif tag in (f"{_TEXT}list", f"{_TEXT}list-item", f"{_TEXT}list-header"):
                yield from self.blocks(child, page)  # items, nested lists, numbered headings
            elif tag == f"{_TABLE}table":
                for line in self._table(child, notes):
                    yield Block(line, page, list(self.headings))
            elif tag == f"{_TEXT}section" or (isinstance(tag, str) and tag.startswith(_DRAW)):
                if child.get(f"{_TEXT}display") != "none":  # a hidden section is not shown
                    yield from self.blocks(child, page)  # frames, text boxes, groups, shapes
            elif tag == f"{_TEXT}tracked-changes" or tag == f"{_TEXT}table-of-content":
                continue  # deleted text; a contents page repeats the headings
            for note in notes:
                yield Block(note, page, list(self.headings))


def text_blocks(data: bytes) -> Iterator[Block]:
    """An OpenDocument text's blocks in reading order."""
    root, hidden = content(data)
    body = root.find("office:body/office:text", _NS)
    if body is None:
        raise DocumentRejected(
            "The file is not an OpenDocument text (no text body)", failure_codes.ODF_NOT_TEXT
        )
    yield from _Reader(hidden).blocks(body)


def slide_blocks(data: bytes, max_pages: int) -> Iterator[Block]:
    """An OpenDocument presentation's slides, each a page under its title (as PowerPoint
    slides are read): its text, then the speaker's notes."""
    root, hidden = content(data)
    body = root.find("office:body/office:presentation", _NS)
    if body is None:
        raise DocumentRejected(
            "The file is not an OpenDocument presentation (no slides)",
            failure_codes.ODF_NOT_PRESENTATION,
        )
    slides = body.findall("draw:page", _NS)
    if len(slides) > max_pages:
        raise DocumentRejected(
            f"The deck has {len(slides)} slides; limit {max_pages}",
            failure_codes.TOO_MANY_SLIDES,
            slides=len(slides),
            limit=max_pages,
        )
    title_frame = "draw:frame[@presentation:class='title']"
    for number, slide in enumerate(slides, start=1):
        paras = slide.iterfind(f"{title_frame}//text:p", _NS)
        title = " ".join(_Reader(hidden).inline(p, []).strip() for p in paras).strip()
        notes = slide.find("presentation:notes", _NS)
        parts = [c for c in slide if c is not notes] + ([notes] if notes is not None else [])
        texts = [b.text for part in parts for b in _Reader(hidden).blocks(part)]
        for i, text in enumerate(texts):
            yield Block(text, page=number, headings=[title] if title else [], boundary=i == 0)
