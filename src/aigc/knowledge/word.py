"""A Word document's text in reading order, with its heading path: what python-docx leaves out.

python-docx reads the body's direct paragraphs and tables, and a paragraph's direct runs. Word
documents as companies write them hold more: content controls (a template's fields, a cover
page, a table of contents: ``w:sdt``, around paragraphs or inside one), tracked changes not yet
accepted (a draft's inserted text sits in ``w:ins``; deleted text, ``w:del``, is left out, as
Word shows the document with its changes accepted), and text boxes (``w:txbxContent``, read as
paragraphs after the one that anchors them; the copy kept for older readers in
``mc:Fallback`` is skipped). Text formatted as hidden (``w:vanish``) is left out, as Word
leaves it out of the page. Footnotes and endnotes (their own parts of the package) are read
after the paragraph or table that cites them, marked as Word numbers them (1, 2 … and i, ii …),
so a note is found in the section it annotates; automatic numbering (第一条, 1.2, (a)) is drawn
as Word draws it (knowledge/word_numbering.py). So the body is walked here with python-docx's
element classes and xpath, and python-docx still answers styles, tables and cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING

from aigc.knowledge import charts, table_rows
from aigc.knowledge.number_formats import format_number
from aigc.knowledge.parse import Block, HeadingPath
from aigc.knowledge.word_numbering import Numbering

if TYPE_CHECKING:
    from docx.document import Document
    from docx.text.paragraph import Paragraph
    from lxml.etree import XPath, _Element


# Text Word does not show: deleted or moved-away text, the fallback copy of a drawing, and text
# boxes (read as paragraphs of their own).
_HIDDEN = (
    "ancestor::w:del or ancestor::w:moveFrom or ancestor::mc:Fallback"
    # a run formatted as hidden text (Font › Hidden): Word does not show or print it, and it
    # is where a document can carry instructions for a model that its reader never sees
    " or ancestor::w:r[w:rPr/w:vanish[not(@w:val='0' or @w:val='false')]]"
)
_NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "v": "urn:schemas-microsoft-com:vml",
}


@cache
def _xpath(path: str) -> XPath:
    """Compiled once; with our own namespaces (python-docx's lack ``mc``, and a content
    control is a plain lxml element, without python-docx's xpath helper)."""
    from lxml.etree import XPath

    return XPath(path, namespaces=_NS)


def blocks(document: Document) -> Iterator[Block]:
    """The body's paragraphs and table rows as blocks; a heading opens a section."""
    path = HeadingPath()
    notes = Notes(document)
    for item in _items(document, notes, Numbering(document)):
        if isinstance(item, Imported):
            for block in item.blocks:
                yield replace(block, headings=[*path.titles, *block.headings])
            continue
        if isinstance(item, list):  # a table's rows
            yield from (Block(line, headings=list(path.titles)) for line in item)
            continue
        paragraph, text = item
        level = heading_level(paragraph) if text else None
        if level is None:
            yield Block(text, headings=list(path.titles))
        else:
            yield Block(text, headings=path.open(level, text), boundary=True)


# Page headers and footers hold what a company prints on every page of a document: its name, a
# document number, a version, a classification ("文件编号：HR-2023-01  版本：V2.0"). python-docx
# reads them apart from the body; they are read once each, after the body, under this heading.
HEADER_FOOTER = "页眉和页脚 / Header and footer"
_PAGE_NUMBER_LINE = re.compile(
    r"^(?:第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|(?:page\s*)?\d+(?:\s*(?:/|of)\s*\d+)?"
    r"|-\s*\d+\s*-|共\s*\d+\s*页\s*第\s*\d+\s*页)$",
    re.I,
)


def header_footer_blocks(document: Document) -> list[Block]:
    """The distinct lines of the document's page headers and footers (first-page and even-page
    ones too), page numbers left out, as blocks after the body (``meta.part``: they are not
    the body, which is what a scanned Word file is judged by)."""
    lines: list[str] = []
    for section in document.sections:
        parts = (
            section.header,
            section.first_page_header,
            section.even_page_header,
            section.footer,
            section.first_page_footer,
            section.even_page_footer,
        )
        for part in parts:
            if part.is_linked_to_previous:
                continue  # no header of its own: the previous section's, already read
            for p in _xpath(f".//w:p[not({_HIDDEN})]")(part._element):
                for line in paragraph_text(p).splitlines():
                    line = line.strip()
                    if line and not _PAGE_NUMBER_LINE.match(line) and line not in lines:
                        lines.append(line)
    meta = {"part": "header_footer"}
    return [
        Block(line, headings=[HEADER_FOOTER], boundary=i == 0, meta=dict(meta))
        for i, line in enumerate(lines)
    ]


@dataclass
class Imported:
    """Blocks of a part Word imports where it stands (w:altChunk), with their own headings."""

    blocks: list[Block]


def imported_blocks(document: Document, chunk: _Element) -> list[Block]:
    """The blocks of a part a document imports where it stands (``w:altChunk``): a web page
    (HTML, or MHT: a page with its files, as web apps' "export to Word" write one) or plain
    text, which Word converts as it opens the file. Such a document's body may hold nothing
    else; it read as empty and was refused. RTF or another Word file imported this way is not
    read."""
    from aigc.knowledge.parse import DocumentRejected, parse_document

    part = document.part.related_parts.get(chunk.get(f"{{{_NS['r']}}}id", ""))
    kind = getattr(part, "content_type", "")
    fmt = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "txt"}.get(kind)
    if kind in ("message/rfc822", "multipart/related"):
        fmt = "mht"
    if part is None or fmt is None:
        return []
    try:
        return parse_document(part.blob, fmt).blocks
    except DocumentRejected:  # an imported part with nothing readable: the rest still reads
        return []


def _items(
    document: Document, notes: Notes, numbering: Numbering
) -> Iterator[list[str] | tuple[Paragraph, str] | Imported]:
    """Each paragraph with its text (after its number, where Word numbers it), and each table
    as its rows' lines, in reading order; the notes a paragraph or table cites follow it."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    body = document._body
    for element in _block_elements(document.element.body):
        if _local(element) == "altChunk":
            yield Imported(imported_blocks(document, element))
            continue
        if _local(element) == "tbl":
            table = Table(element, body)
            rows = [
                [cell_text(cell._tc, notes, numbering) for cell in row.cells] for row in table.rows
            ]
            marked = bool(_xpath("./w:tr[1]/w:trPr/w:tblHeader")(element))
            yield table_rows.row_texts(rows, marked)
            yield notes.cited_in(element)
            continue
        yield Paragraph(element, body), _numbered(element, notes, numbering)
        for box in _xpath(".//w:txbxContent[not(ancestor::mc:Fallback)]")(element):
            for inner in _block_elements(box):
                if _local(inner) == "p":
                    yield Paragraph(inner, body), _numbered(inner, notes, numbering)
        for rel_id in _xpath(_CHARTS)(element):  # a chart: its title and data, as a table
            part = document.part.related_parts.get(str(rel_id))
            if part is not None:
                yield charts.chart_part_texts(part.blob)
        yield notes.cited_in(element)


_CHARTS = ".//c:chart[not(ancestor::mc:Fallback)]/@r:id"

# A note's reference in the text, by the kind of note it cites; how Word numbers each kind.
_NOTE_KINDS = {"footnoteReference": "footnote", "endnoteReference": "endnote"}
_NOTE_FORMATS = {"footnote": "decimal", "endnote": "lowerRoman"}


class Notes:
    """A document's footnotes and endnotes by id, and the mark each gets where it is cited:
    Word numbers footnotes 1, 2 … and endnotes i, ii … in the order they are cited."""

    def __init__(self, document: Document) -> None:
        from docx.opc.constants import RELATIONSHIP_TYPE as RT
        from docx.oxml import parse_xml

        self.texts: dict[tuple[str, str], str] = {}
        self.marks: dict[tuple[str, str], str] = {}
        self.listed: set[tuple[str, str]] = set()
        for rel in document.part.rels.values():
            kind = {RT.FOOTNOTES: "footnote", RT.ENDNOTES: "endnote"}.get(rel.reltype)
            if kind is None or rel.is_external:
                continue
            root = parse_xml(rel.target_part.blob)
            # separators (the rule above the notes) are notes too, of their own type
            for note in _xpath(f"./w:{kind}[not(@w:type) or @w:type='normal']")(root):
                text = "\n".join(
                    t for p in _xpath(f".//w:p[not({_HIDDEN})]")(note) if (t := paragraph_text(p))
                )
                if text:
                    self.texts[kind, note.get(f"{{{_NS['w']}}}id", "")] = text

    def mark(self, reference: _Element) -> str:
        """The mark Word shows where a note is cited ("" for a note without text)."""
        key = _note_key(reference)
        if key not in self.texts:
            return ""
        if key not in self.marks:
            count = sum(kind == key[0] for kind, _ in self.marks) + 1
            self.marks[key] = format_number(count, _NOTE_FORMATS[key[0]])
        return f"[{self.marks[key]}]"

    def cited_in(self, element: _Element) -> list[str]:
        """The notes cited in a paragraph or table, each once, as "[mark] text"."""
        out = []
        for reference in _xpath(_REFERENCES)(element):
            mark, key = self.mark(reference), _note_key(reference)
            if mark and key not in self.listed:
                self.listed.add(key)
                out.append(f"{mark} {self.texts[key]}")
        return out


def _note_key(reference: _Element) -> tuple[str, str]:
    """The note a reference cites: its kind and id."""
    return _NOTE_KINDS[_local(reference)], reference.get(f"{{{_NS['w']}}}id", "")


_REFERENCES = f".//w:footnoteReference[not({_HIDDEN})] | .//w:endnoteReference[not({_HIDDEN})]"


def _local(element: _Element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _block_elements(parent: _Element) -> Iterator[_Element]:
    """Paragraphs and tables in order, content controls and custom XML opened."""
    for child in parent.iterchildren():
        name = _local(child)
        if name in ("p", "tbl"):
            yield child
        elif name == "sdt":
            for content in _xpath("./w:sdtContent")(child):
                yield from _block_elements(content)
        elif name == "customXml":
            yield from _block_elements(child)
        elif name == "altChunk":
            yield child


def paragraph_text(p: _Element, notes: Notes | None = None) -> str:
    """The text Word shows of a paragraph: its runs wherever they sit (hyperlinks, content
    controls, tracked insertions), tabs and line breaks as such, a note's mark where it is
    cited; not its text boxes."""
    # a text box inside this paragraph is read on its own: pieces as deep in boxes as ``p``
    shown = f"not({_HIDDEN}) and count(ancestor::w:txbxContent) = $boxes"
    kinds = ("t", "tab", "br", "cr", "footnoteReference", "endnoteReference")
    pieces = _xpath(" | ".join(f".//w:{kind}[{shown}]" for kind in kinds))(
        p, boxes=len(_xpath("ancestor::w:txbxContent")(p))
    )
    out = []
    for piece in pieces:
        name = _local(piece)
        if name == "t":
            out.append(piece.text or "")
        elif name in _NOTE_KINDS:
            out.append(notes.mark(piece) if notes is not None else "")
        else:
            out.append("\t" if name == "tab" else "\n")
    return "".join(out).strip()


def _numbered(p: _Element, notes: Notes, numbering: Numbering) -> str:
    """A paragraph's text after the label Word draws before it (none without text)."""
    label, text = numbering.label(p), paragraph_text(p, notes)
    return label + text if text else ""


def cell_text(tc: _Element, notes: Notes, numbering: Numbering) -> str:
    """A table cell's text: its paragraphs (a nested table's and text boxes' too), a line
    each."""
    paragraphs = _xpath(f".//w:p[not({_HIDDEN})]")(tc)
    return "\n".join(t for p in paragraphs if (t := _numbered(p, notes, numbering)))


def heading_level(paragraph: Paragraph) -> int | None:
    """A Word paragraph's heading level: its style's name (Title, Heading 2, or as a Chinese
    Word or WPS names them, 标题, 标题 2), else the outline level that Word's navigation pane
    reads, set on the paragraph or on its style or a style it is based on (company templates
    define their own heading styles, 一级标题, with an outline level)."""
    style = paragraph.style
    name = (style.name if style is not None else "").lower()
    if name in ("title", "标题"):
        return 1
    for prefix in ("heading", "标题"):
        if name.startswith(prefix):
            digits = name.removeprefix(prefix).strip()
            if digits.isdigit():
                return int(digits)
            if not digits:
                return 1
    found = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    while not found and style is not None:
        found = style.element.xpath("./w:pPr/w:outlineLvl/@w:val")
        style = style.base_style
    if found and found[0].isdigit() and int(found[0]) < 9:  # 9: body text
        return int(found[0]) + 1
    return None


# A picture's part, as DrawingML (a:blip) and legacy VML (v:imagedata) name it.
_PICTURES = (
    ".//a:blip[not(ancestor::mc:Fallback)]/@r:embed | .//v:imagedata[not(ancestor::mc:Fallback)]"
    "/@r:id"
)
_PICTURE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tiff",
    "image/bmp": "bmp",
    "image/webp": "webp",
}


def pictures(document: Document) -> list[tuple[bytes, str]]:
    """The body's raster pictures in reading order, each once, with their format (a scan
    pasted into Word as a page-sized picture); drawings kept as vectors (EMF, WMF) are not
    pictures of text."""
    out, seen = [], set()
    for rel_id in _xpath(_PICTURES)(document.element.body):
        part = document.part.related_parts.get(str(rel_id))
        fmt = _PICTURE_FORMATS.get(getattr(part, "content_type", ""))
        if part is None or fmt is None or str(rel_id) in seen:
            continue
        seen.add(str(rel_id))
        out.append((part.blob, fmt))
    return out
