"""Documents to blocks: the text of a file in reading order, with page and heading path.

One parser per format, each built on a well-kept library (PDFium, python-docx, python-pptx,
openpyxl, BeautifulSoup, markdown-it). A parser yields ``Block``s; the chunker packs them.
PDFs are read by ``knowledge.pdf`` (a capped child process), which also notes unread pages.
Tables become text rows (``table_rows``: with their column names where the table has a
header row, else cells joined by `` | ``) so their content stays searchable and readable in a
citation.

Anything wrong with a file (corrupt, too many pages, a zip bomb, a zip member with a path
outside the archive) raises ``DocumentRejected`` with a reason a person can act on; the
ingestion marks that one document failed and moves on.
"""

from __future__ import annotations

import codecs
import contextvars
import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from aigc.infra import text_encoding
from aigc.knowledge import charts, failure_codes, note_codes, table_rows
from aigc.knowledge.note_codes import Note
from aigc.knowledge.pdf_worker import PdfLimits
from aigc.knowledge.reasons import with_reason
from aigc.knowledge.sheet_formats import is_percent_format
from aigc.knowledge.sheet_values import shown_text

if TYPE_CHECKING:  # the parsers load their libraries on first use
    from markdown_it.token import Token
    from pptx.shapes.base import BaseShape

# Images are read by OCR (scanned notices, photographed receipts, screenshots).
IMAGE_FORMATS = ("png", "jpg", "tiff", "bmp", "webp")
FORMATS = (
    *("txt", "md", "html", "mht", "pdf", "docx", "pptx", "xlsx", "csv", "json", "jsonl"),
    *("xls", "xlsb", "ods", "odt", "odp", "rtf", "ofd", "eml", "zip"),
    *IMAGE_FORMATS,
)
ZIP_MAX_UNCOMPRESSED = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100  # a DOCX compresses text ~5-10x; 100x is a bomb
ZIP_MAX_MEMBERS = 10_000


class DocumentRejected(ValueError):
    """This document cannot be ingested; the message says why (in English, for API clients).

    ``code`` names the reason for programs and for the console, which says it in the reader's
    language (``failure_codes.py``): every refusal has one. ``values``: the numbers the
    message says (a PDF's pages and the limit), for the code's words with them
    (``WITH_VALUES`` in failure_codes)."""

    def __init__(self, message: str, code: str, /, **values: Any) -> None:
        super().__init__(message)
        self.code, self.values = code, values


@dataclass
class Block:
    """A run of text that belongs together (a paragraph, a table row, a record)."""

    text: str
    page: int | None = None
    headings: list[str] = field(default_factory=list)
    # A chunk never spans a boundary: a new record, section or page starts a new chunk.
    boundary: bool = False
    meta: dict[str, str] = field(default_factory=dict)


class HeadingPath:
    """The headings a block sits under, as a document's headings open and close them: a
    heading of level n closes the open ones of level n and deeper."""

    def __init__(self) -> None:
        self.titles: list[str] = []
        self._levels: list[int] = []

    def open(self, level: int, title: str) -> list[str]:
        """Open ``title`` at ``level``; the path under it."""
        while self._levels and self._levels[-1] >= level:
            self._levels.pop()
            self.titles.pop()
        self._levels.append(level)
        self.titles.append(title)
        return list(self.titles)


@dataclass
class Limits:
    max_pages: int = 2000
    zip_max_uncompressed: int = ZIP_MAX_UNCOMPRESSED
    zip_max_ratio: int = ZIP_MAX_RATIO
    pdf: PdfLimits = field(default_factory=PdfLimits)


@dataclass(frozen=True)
class Bookmark:
    """A PDF bookmark: a section's title, its depth (0: top) and the page it starts on."""

    level: int
    title: str
    page: int


@dataclass
class Parsed:
    """A document's blocks, and notes on parts that could not be read (scanned PDF pages
    without OCR, an image over the pixel limit) when the rest could; a PDF's bookmarks."""

    blocks: list[Block]
    notes: list[str] = field(default_factory=list)
    outline: list[Bookmark] = field(default_factory=list)


# Plain-text files engineers keep beside their documents (configuration, logs, SQL, source
# code, reStructuredText, subtitles of a recorded meeting): read as text, in paragraphs.
PLAIN_TEXT_EXTENSIONS = (
    *("log", "yaml", "yml", "toml", "ini", "cfg", "conf", "properties", "sql"),
    *("py", "java", "kt", "go", "rs", "c", "h", "cc", "cpp", "hpp", "cs", "js", "ts", "tsx"),
    *("jsx", "vue", "php", "rb", "swift", "scala", "sh", "bash", "ps1", "bat", "r", "m", "lua"),
    *("rst", "adoc", "org", "tex", "srt", "vtt", "diff", "patch", "gradle", "dockerfile"),
)


# Other names of the formats (``.htm`` is html, ``.tsv`` a CSV file with tabs).
_ALIASES = {
    **{"markdown": "md", "htm": "html", "text": "txt", "ndjson": "jsonl", "jpeg": "jpg"},
    **{"tif": "tiff", "mhtml": "mht", "tsv": "csv"},
    **dict.fromkeys(PLAIN_TEXT_EXTENSIONS, "txt"),
}


def _extension(filename: str) -> str:
    ext = PurePosixPath(filename.lower()).suffix.lstrip(".")
    return _ALIASES.get(ext, ext)


# Legacy extensions that programs also put on files of another kind: "export to Word / Excel"
# writes a web page (HTML, or MHT: a page with its files) or tab-separated text and names it
# .doc or .xls, and a renamed .docx is a zip. Their content says which; the format for a zip.
_DISGUISED = {"doc": "docx", "wps": "docx", "xls": "xlsx", "et": "xlsx", "ppt": "pptx"}
SNIFFED_EXTENSIONS = tuple(_DISGUISED)
# Every extension whose format its name alone tells (the sniffed ones need the file's start).
NAMED_EXTENSIONS = (*FORMATS, *_ALIASES)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the binary Office 97-2003 container
SNIFF_BYTES = 4096


def needs_content(filename: str) -> bool:
    """Whether the format of a file so named is known only from its first bytes
    (``SNIFF_BYTES`` of them, given to ``detect_format``)."""
    return _extension(filename) in _DISGUISED


def _sniffed(ext: str, head: bytes) -> str | None:
    """What a file with a legacy extension really is, when it is something read here."""
    if head.startswith(_OLE2):
        return None  # the real legacy format
    if head.startswith(b"PK\x03\x04"):
        return _DISGUISED[ext]
    if head.startswith(b"{\\rtf"):
        return "rtf"  # Rich Text Format, as older systems save "Word" files
    wide = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    probe = (head.decode("utf-16", "ignore") if wide else head.decode("latin-1")).lower()
    probe = probe.lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if probe.startswith("mime-version:") or "content-type: multipart/related" in probe:
        return "mht"
    from aigc.knowledge import office_xml

    if office_xml_kind := office_xml.kind(probe):  # Excel's or Word's 2003 XML
        return office_xml_kind
    if "<html" in probe or "<table" in probe or probe.startswith("<!doctype html"):
        return "html"
    if probe.startswith("<?xml"):
        return None  # XML of some other kind: not text to read as lines
    if (wide or b"\x00" not in head) and ext in ("xls", "et"):
        return "csv"  # tab- or comma-separated text
    if (wide or b"\x00" not in head) and ext in ("doc", "wps"):
        return "txt"
    return None


def detect_format(filename: str, head: bytes | None = None) -> str:
    """The format from the file's extension (``.markdown`` → md, ``.htm`` → html), and for a
    legacy extension (``needs_content``) from ``head``, the file's first bytes."""
    ext = _extension(filename)
    if head is not None and ext in _DISGUISED and (real := _sniffed(ext, head)):
        return real
    if ext in _SAVE_AS:
        raise DocumentRejected(
            f"'.{ext}' is {_SAVE_AS[ext][0]}, which is not read here: save it as "
            f".{_SAVE_AS[ext][1]} (Save As, or Export) and upload that",
            failure_codes.SAVE_AS_OTHER_FORMAT,
            ext=ext,
            save_as=_SAVE_AS[ext][1],
        )
    if ext not in FORMATS:
        supported = f"{', '.join(FORMATS)}, and plain text such as .log, .yaml, .sql or code"
        raise DocumentRejected(
            f"Unsupported file type '.{ext}'; supported: {supported}"
            if ext
            else f"'{filename}' has no extension; supported: {supported}",
            failure_codes.UNSUPPORTED_TYPE,
            ext=ext,
        )
    return ext


# Formats people have files in that no parser here reads, and the one to save them as.
_SAVE_AS = {
    "doc": ("the Word 97–2003 format", "docx"),
    "ppt": ("the PowerPoint 97–2003 format", "pptx"),
    "wps": ("a WPS Writer document", "docx"),
    "et": ("a WPS Spreadsheets file", "xlsx"),
    "dps": ("a WPS Presentation file", "pptx"),
    "pages": ("an Apple Pages document", "docx"),
    "key": ("an Apple Keynote presentation", "pptx"),
    "numbers": ("an Apple Numbers spreadsheet", "xlsx"),
    "heic": ("an iPhone photo format", "jpg"),
    "msg": ("an Outlook message file", "html"),
}


def parse(data: bytes, fmt: str, limits: Limits | None = None) -> list[Block]:
    """All blocks of a document, or ``DocumentRejected``."""
    return parse_document(data, fmt, limits).blocks


def parse_document(data: bytes, fmt: str, limits: Limits | None = None) -> Parsed:
    """All blocks of a document with notes on what was left unread, or ``DocumentRejected``.
    The NUL character is taken out of the text: it means nothing in text, and PostgreSQL's
    text columns cannot hold it (a text file with a NUL byte failed its whole ingestion job
    there)."""
    return _without_nul(_parse(data, fmt, limits or Limits()))


def _without_nul(parsed: Parsed) -> Parsed:
    for block in parsed.blocks:
        if "\x00" in block.text or any("\x00" in h for h in block.headings):
            block.text = block.text.replace("\x00", "")
            block.headings = [h.replace("\x00", "") for h in block.headings]
    parsed.blocks = [b for b in parsed.blocks if b.text.strip()]
    parsed.outline = [replace(m, title=m.title.replace("\x00", "")) for m in parsed.outline]
    return parsed


def _parse(data: bytes, fmt: str, limits: Limits) -> Parsed:
    if fmt == "pdf" or fmt in IMAGE_FORMATS:  # its own process (memory cap, time budget)
        from aigc.knowledge.pdf import read_pdf

        pdf_limits = replace(limits.pdf, max_pages=limits.max_pages)
        read = read_pdf(data, pdf_limits, image=fmt in IMAGE_FORMATS)
        return Parsed(read.blocks, read.notes, read.outline)  # paragraphs: none of them blank
    if fmt in ("eml", "zip"):  # files inside a file, each read by its own parser
        return _read_container(data, fmt, limits)
    notes: list[str] = []
    try:
        if fmt in TEXT_PARSERS:
            decoded = text_encoding.decode(
                data, _declared_in_markup(data) if fmt == "html" else None
            )
            if note := decoded.note():
                notes.append(_encoding_note(note, decoded))
            found = TEXT_PARSERS[fmt](decoded.text, limits)
        else:
            found = PARSERS[fmt](data, limits)
        blocks = [b for b in found if b.text.strip()]
        body = (b for b in blocks if b.meta.get("part") != "header_footer")
        if fmt == "docx" and sum(len(b.text) for b in body) < SCANNED_WORD_CHARS:
            scanned, scan_notes = _scanned_word_pages(data, limits)
            blocks += scanned
            notes += scan_notes
    except DocumentRejected:
        raise
    except text_encoding.UndecodableText as exc:
        raise DocumentRejected(str(exc), failure_codes.TEXT_UNDECODABLE) from None
    except Exception as exc:  # a library's own error on a malformed file: its words, cleaned
        raise DocumentRejected(
            with_reason(f"Not a valid {fmt.upper()} file", exc), failure_codes.INVALID_FILE
        ) from None
    return Parsed(blocks, notes)


def _encoding_note(note: str, decoded: text_encoding.Decoded) -> Note:
    """The text encoding's note (``Decoded.note``), named for the console."""
    if decoded.replaced:
        return Note(note, note_codes.BYTES_REPLACED, count=decoded.replaced)
    return Note(note, note_codes.READ_AS_ENCODING, encoding=decoded.encoding)


# A Word file with less text than this and pictures in it is a scan pasted into Word (as
# offices send a signed or stamped document): its pictures are read by OCR.
SCANNED_WORD_CHARS = 200
MAX_SCANNED_PICTURES = 100


def _scanned_word_pages(data: bytes, limits: Limits) -> tuple[list[Block], list[str]]:
    """The text of a scanned Word file's pictures in reading order, each read by OCR in the
    capped worker as an image file is (its chunks cited as read by OCR); notes on those that
    could not be read."""
    import docx

    from aigc.knowledge import word
    from aigc.knowledge.pdf import read_pdf

    found = word.pictures(docx.Document(io.BytesIO(data)))
    blocks: list[Block] = []
    notes: list[str] = []
    if len(found) > MAX_SCANNED_PICTURES:
        notes.append(
            Note(
                f"only the first {MAX_SCANNED_PICTURES} of {len(found)} pictures were read",
                note_codes.PICTURES_LIMIT,
                read=MAX_SCANNED_PICTURES,
                total=len(found),
            )
        )
    pdf_limits = replace(limits.pdf, max_pages=limits.max_pages)
    for number, (picture, _) in enumerate(found[:MAX_SCANNED_PICTURES], start=1):
        try:
            read = read_pdf(picture, pdf_limits, image=True)
        except DocumentRejected as exc:
            notes.append(
                Note(
                    f"picture {number} was not read: {exc}"[:500],
                    note_codes.PICTURE_NOT_READ,
                    number=number,
                    reason=exc.code,
                )
            )
            continue
        for i, block in enumerate(read.blocks):
            blocks.append(replace(block, page=None, boundary=i == 0, meta=dict(block.meta)))
        notes += [
            note_codes.within(note_codes.IN_PICTURE, f"picture {number}", note, number=number)
            for note in read.notes
        ]
    return blocks, notes


def filed_under(headings: list[str], name: str, inner: Parsed) -> tuple[list[Block], list[str]]:
    """A file read inside another (an e-mail's attachment, an archive's member): a block naming
    it, then its blocks under ``headings`` and its name; its notes prefixed with the name.
    Each block's ``meta["file"]`` names the file it is from (``a.zip/b.pdf`` for a file in an
    archive inside this one), so the file's own title and period can head its chunks
    (``context.file_contexts``)."""
    under = [*headings, name]
    blocks = [Block(name, headings=under, boundary=True, meta={"file": name})] + [
        replace(b, headings=under + b.headings, meta=b.meta | {"file": _file_path(name, b.meta)})
        for b in inner.blocks
    ]
    return blocks, [note_codes.within(note_codes.IN_FILE, name, n, name=name) for n in inner.notes]


def _file_path(name: str, meta: dict[str, str]) -> str:
    return f"{name}/{meta['file']}" if "file" in meta else name


# Files inside files: an e-mail's attachments, an archive's files. Two levels are opened (a
# zipped folder of e-mails with their attachments); deeper ones are not, so no chain of
# archives inside e-mails inside archives can make one upload do unbounded work.
MAX_NESTED_CONTAINERS = 2
_containers_open: contextvars.ContextVar[int] = contextvars.ContextVar("containers", default=0)


def _read_container(data: bytes, fmt: str, limits: Limits) -> Parsed:
    from aigc.knowledge.archive import read_zip
    from aigc.knowledge.email_message import read_email

    what = "e-mail" if fmt == "eml" else "archive"
    depth = _containers_open.get()
    if depth >= MAX_NESTED_CONTAINERS:
        raise DocumentRejected(
            f"An {what} inside {depth} levels of files is not opened",
            failure_codes.NESTED_TOO_DEEP,
            depth=depth,
        )
    token = _containers_open.set(depth + 1)
    try:
        return read_email(data, limits) if fmt == "eml" else read_zip(data, limits)
    except DocumentRejected:
        raise
    except Exception as exc:  # the email or zipfile package's error on a malformed file
        code = failure_codes.EMAIL_UNREADABLE if fmt == "eml" else failure_codes.ARCHIVE_UNREADABLE
        raise DocumentRejected(with_reason(f"The {what} could not be read", exc), code) from None
    finally:
        _containers_open.reset(token)


def paragraphs(text: str) -> list[str]:
    """Split on blank lines; keep single line breaks (they matter in lists and tables)."""
    parts, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            parts.append("\n".join(current))
            current = []
    if current:
        parts.append("\n".join(current))
    return parts


# --- plain text formats --------------------------------------------------------------------


def parse_txt(text: str, limits: Limits) -> Iterator[Block]:
    for para in paragraphs(text):
        yield Block(para)


def parse_md(text: str, limits: Limits) -> Iterator[Block]:
    """Markdown by markdown-it (CommonMark with tables). YAML front matter (``---`` …
    ``---``, as static-site and note tools write it) is a block of text, not the heading that
    CommonMark alone would make of its last line; raw HTML blocks are read as HTML."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    from aigc.knowledge import web_page

    lines = text.splitlines()
    md = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
    path = HeadingPath()
    tokens = md.parse(text)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            title = tokens[i + 1].content.strip()
            yield Block(title, headings=path.open(int(tok.tag[1]), title), boundary=True)
            i += 3
            continue
        if tok.type == "table_open":
            end = i
            while tokens[end].type != "table_close":
                end += 1
            for line in table_rows.row_texts(_md_table_rows(tokens[i:end]), marked_header=True):
                yield Block(line, headings=list(path.titles))
            i = end + 1
            continue
        if tok.type == "front_matter" and tok.content.strip():
            yield Block(tok.content.strip(), headings=list(path.titles))
        elif tok.type == "html_block" and tok.level == 0:
            for found in web_page.blocks(tok.content):
                yield replace(found, headings=path.titles + found.headings, boundary=False)
        elif tok.type in _MD_BLOCKS and tok.map and tok.level == 0:
            start, stop = tok.map
            yield Block("\n".join(lines[start:stop]).strip(), headings=list(path.titles))
        i += 1


_MD_BLOCKS = (
    "paragraph_open",
    "fence",
    "code_block",
    "bullet_list_open",
    "ordered_list_open",
    "blockquote_open",
)


def _md_table_rows(tokens: list[Token]) -> list[list[str]]:
    """A Markdown table's cells, row by row (its first row is its header, by the syntax)."""
    rows: list[list[str]] = []
    for tok in tokens:
        if tok.type == "tr_open":
            rows.append([])
        elif tok.type == "inline":
            rows[-1].append(tok.content.strip())
    return rows


def _declared_in_markup(data: bytes) -> str | None:
    """The encoding an HTML page declares in itself (``<meta charset>``, an XML prolog)."""
    from bs4.dammit import EncodingDetector

    return EncodingDetector.find_declared_encoding(data, is_html=True)


def parse_html(text: str, limits: Limits) -> Iterator[Block]:
    from aigc.knowledge import web_page

    yield from web_page.blocks(text)


def parse_mht(data: bytes, limits: Limits) -> Iterator[Block]:
    """A web page saved with its files in one MIME message (.mht: Word's and Internet
    Explorer's "single file web page", and what "export to Word" writes as .doc): its page,
    in the charset its part declares; the page's pictures are not read."""
    from email import message_from_bytes, policy

    from aigc.knowledge import web_page

    message = message_from_bytes(data, policy=policy.default)
    page = message.get_body(preferencelist=("html", "plain"))
    if page is None:
        raise DocumentRejected("The MHT file holds no web page or text", failure_codes.MHT_NO_PAGE)
    raw = page.get_payload(decode=True)
    body = raw if isinstance(raw, bytes) else b""
    text = text_encoding.decode(body, page.get_content_charset()).text
    if page.get_content_subtype() == "html":
        yield from web_page.blocks(text)
    else:
        yield from parse_txt(text, limits)


def parse_xlsxml(data: bytes, limits: Limits) -> Iterator[Block]:
    """Excel 2003's XML spreadsheet (what Java and .NET systems export as .xls)."""
    from aigc.knowledge import office_xml

    for name, rows, merges in office_xml.sheets(data):
        yield from _sheet_blocks(_fill_merged(rows, merges), [name] if name else [])


def parse_docxml(data: bytes, limits: Limits) -> Iterator[Block]:
    """Word 2003's XML document (what some systems export as .doc)."""
    from aigc.knowledge import office_xml

    yield from (Block(text) for text in office_xml.paragraphs(data))


def parse_ofd(data: bytes, limits: Limits) -> Iterator[Block]:
    """OFD (GB/T 33190: China's e-invoices and official documents), page by page
    (``knowledge/ofd.py``). Until 2026-12-05 refused as an unsupported file type."""
    from aigc.knowledge import ofd

    check_zip(data, limits, "OFD")
    for number, text in ofd.pages(data, limits.max_pages):
        for i, para in enumerate(paragraphs(text)):
            yield Block(para, page=number, boundary=i == 0)


_RTF_CODE_PAGE = re.compile(rb"\\ansicpg(\d+)")


def parse_rtf(data: bytes, limits: Limits) -> Iterator[Block]:
    """Rich Text Format (WordPad, TextEdit, older systems' "Word" exports), by striprtf: its
    text in paragraphs, a table row's cells joined by `` | ``. Characters outside ASCII come as
    bytes of the code page the file names (``\\ansicpg936``: GBK) or as ``\\u`` escapes;
    pictures are skipped. Until 2026-12-05 refused with "save it as .docx"."""
    from striprtf.striprtf import rtf_to_text

    found = _RTF_CODE_PAGE.search(data[:4096])
    code_page = f"cp{int(found.group(1))}" if found else "cp1252"
    try:
        codecs.lookup(code_page)
    except LookupError:
        code_page = "cp1252"
    text = rtf_to_text(data.decode("latin-1"), encoding=code_page, errors="replace")
    lines = (_rtf_row(line) for line in text.splitlines())
    yield from (Block(para) for para in paragraphs("\n".join(lines)))


def _rtf_row(line: str) -> str:
    """striprtf ends each table cell with "|": a row's cells joined as other tables' are."""
    if "|" not in line or not line.rstrip().endswith("|"):
        return line
    return " | ".join(cell.strip() for cell in line.rstrip().rstrip("|").split("|"))


def parse_csv(text: str, limits: Limits) -> Iterator[Block]:
    """One block per row, each cell labelled with its column so a row stands on its own
    (``table_rows.labelled_rows``). The delimiter is sniffed: Excel writes ';' where the
    decimal mark is a comma, and tab-separated files are saved as .csv too."""
    hint = _SEPARATOR_HINT.match(text)
    if hint:  # Excel's "sep=;" first line names the delimiter
        body = text[hint.end() :]
        rows = csv.reader(io.StringIO(body), delimiter=hint.group(1))
    else:
        rows = csv.reader(io.StringIO(text), _csv_dialect(text))
    yield from _sheet_blocks(rows, [])


_SEPARATOR_HINT = re.compile(r"\A\ufeff?sep=(.)\r?\n")


def _csv_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:  # one column, or no delimiter it could tell
        return csv.excel


def _sheet_blocks(rows: Iterable[list[str]], headings: list[str]) -> Iterator[Block]:
    """A sheet's rows as blocks, each a record of its own; a caption line above the header
    (a title over the table) heads the rows below it."""
    headings = list(headings)
    for row in table_rows.labelled_rows(rows):
        if row.caption:  # no row number: a line of text, which may title the document
            yield Block(row.text, headings=list(headings), boundary=True)
            headings.append(row.text)
        else:
            yield Block(
                row.text, headings=list(headings), boundary=True, meta={"row": str(row.number)}
            )


_TITLE_KEYS = ("title", "heading", "subject")


def _record_block(record: object, n: int, headings: list[str] | None = None) -> Block:
    """A JSON record: its text field if it has one (title as heading), else its fields as
    "name: value" lines (``_fields``)."""
    headings = list(headings or [])
    if isinstance(record, dict):
        body = next((record[k] for k in ("text", "content", "body") if k in record), None)
        title = str(next((record[k] for k in _TITLE_KEYS if record.get(k)), "")).strip()
        ref = str(record.get("_id", record.get("id", n)))
        if isinstance(body, str):
            return Block(
                body,
                headings=headings + ([title] if title else []),
                boundary=True,
                meta={"id": ref},
            )
        return Block("\n".join(_fields(record)), headings=headings, boundary=True, meta={"id": ref})
    return Block(_plain(record), headings=headings, boundary=True, meta={"id": str(n)})


def _fields(record: dict[str, object], prefix: str = "") -> Iterator[str]:
    """A record's fields as lines; a nested object's fields named by their path (owner.name)."""
    for key, value in record.items():
        if isinstance(value, dict):
            yield from _fields(value, f"{prefix}{key}.")
        elif value not in (None, "", [], {}):
            yield f"{prefix}{key}: {_plain(value)}"


def _plain(value: object) -> str:
    """A JSON value as a person reads it: a string without quotes, a list of strings or
    numbers joined by commas, anything else compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def _records(value: object) -> tuple[list[object], list[str]]:
    """The records of a JSON document and a heading for them: a top-level list, or the longest
    list of objects among a top-level object's fields (an export's ``{"faqs": [...]}``, also
    one level further down, ``{"data": {"items": [...]}}``), headed by the object's title or
    the list's name; else the document is one record."""
    if isinstance(value, list):
        return value, []
    if isinstance(value, dict):
        found: list[tuple[str, list[object]]] = []
        for key, field_value in value.items():
            if isinstance(field_value, dict):
                found += [(f"{key}.{k}", v) for k, v in field_value.items() if _is_record_list(v)]
            elif _is_record_list(field_value):
                found.append((key, field_value))
        if found:
            name, records = max(found, key=lambda item: len(item[1]))
            title = value.get("title") or value.get("name")
            return records, [
                str(title).strip() if isinstance(title, str) and title.strip() else name
            ]
    return [value], []


def _is_record_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def parse_json(text: str, limits: Limits) -> Iterator[Block]:
    records, headings = _records(json.loads(text))
    for n, record in enumerate(records):
        yield _record_block(record, n, headings)


def parse_jsonl(text: str, limits: Limits) -> Iterator[Block]:
    for n, line in enumerate(text.split("\n")):  # not splitlines: U+0085 is text
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DocumentRejected(
                    f"Line {n + 1} is not valid JSON: {exc.msg}",
                    failure_codes.JSONL_INVALID_LINE,
                    line=n + 1,
                ) from None
            yield _record_block(record, n)


# --- Office formats (zip containers) -------------------------------------------------------


def check_zip(data: bytes, limits: Limits, what: str) -> None:
    """Refuse zip bombs and members whose names escape the archive before any library opens it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DocumentRejected(
            f"The {what} file is corrupt (not a valid zip container)", failure_codes.ZIP_CORRUPT
        ) from None
    with archive:
        members = archive.infolist()
        if len(members) > ZIP_MAX_MEMBERS:
            raise DocumentRejected(
                f"The {what} file has {len(members)} parts; too many",
                failure_codes.ZIP_TOO_MANY_PARTS,
                parts=len(members),
            )
        total = 0
        for info in members:
            name = info.filename.replace("\\", "/")
            if name.startswith("/") or ".." in PurePosixPath(name).parts or ":" in name:
                raise DocumentRejected(
                    f"The {what} file holds a part with an unsafe path ('{name[:100]}')",
                    failure_codes.ZIP_UNSAFE_PATH,
                )
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.zip_max_ratio and info.file_size > 1024 * 1024:
                raise DocumentRejected(
                    f"The {what} file looks like a zip bomb: part '{name[:100]}' expands "
                    f"{int(ratio)}x",
                    failure_codes.ZIP_BOMB,
                    part=name[:100],
                    ratio=int(ratio),
                )
        if total > limits.zip_max_uncompressed:
            raise DocumentRejected(
                f"The {what} file expands to {total} bytes; the limit is "
                f"{limits.zip_max_uncompressed} (possible zip bomb)",
                failure_codes.ZIP_EXPANDS_TOO_FAR,
                size=total,
                limit=limits.zip_max_uncompressed,
            )


def parse_docx(data: bytes, limits: Limits) -> Iterator[Block]:
    check_zip(data, limits, "DOCX")
    import docx

    from aigc.knowledge import word

    document = docx.Document(io.BytesIO(data))
    yield from word.blocks(document)
    yield from word.header_footer_blocks(document)


def parse_odt(data: bytes, limits: Limits) -> Iterator[Block]:
    """OpenDocument text (LibreOffice, OpenOffice: ``knowledge/odf.py``)."""
    check_zip(data, limits, "ODT")
    from aigc.knowledge import odf

    yield from odf.text_blocks(data)


def parse_odp(data: bytes, limits: Limits) -> Iterator[Block]:
    """OpenDocument presentation, slide by slide (``knowledge/odf.py``)."""
    check_zip(data, limits, "ODP")
    from aigc.knowledge import odf

    yield from odf.slide_blocks(data, limits.max_pages)


def parse_pptx(data: bytes, limits: Limits) -> Iterator[Block]:
    check_zip(data, limits, "PPTX")
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    if len(deck.slides) > limits.max_pages:
        raise DocumentRejected(
            f"The deck has {len(deck.slides)} slides; limit {limits.max_pages}",
            failure_codes.TOO_MANY_SLIDES,
            slides=len(deck.slides),
            limit=limits.max_pages,
        )
    for number, slide in enumerate(deck.slides, start=1):
        title = slide.shapes.title.text.strip() if slide.shapes.title is not None else ""
        texts = list(_shape_texts(slide.shapes))
        notes = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
        if notes is not None and notes.text.strip():
            texts.append(notes.text.strip())  # the speaker's notes: often the slide's prose
        for i, text in enumerate(texts):
            yield Block(text, page=number, headings=[title] if title else [], boundary=i == 0)


def _shape_texts(shapes: Iterable[BaseShape]) -> Iterator[str]:
    """The text of a slide's shapes in order: a group's shapes in turn (designed slides group
    their text boxes), a table row by row."""
    from pptx.shapes.autoshape import Shape
    from pptx.shapes.graphfrm import GraphicFrame
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shape_texts(shape.shapes)
        elif isinstance(shape, Shape) and shape.has_text_frame and shape.text_frame.text.strip():
            yield _numbered_text(shape.text_frame)
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            yield from table_rows.row_texts(_slide_table(shape.table), shape.table.first_row)
        elif isinstance(shape, GraphicFrame) and shape.has_chart:
            yield from charts.chart_texts(shape.chart)


def _slide_table(table: Any) -> list[list[str]]:
    """A slide table's cells, a merged cell's text in each place it covers (PowerPoint keeps
    it in the merge's first cell: the rows below a merged region lost their region)."""
    rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            if not cell.is_merge_origin:
                continue
            for below in rows[r : r + cell.span_height]:
                below[c : c + cell.span_width] = [rows[r][c]] * len(below[c : c + cell.span_width])
    return rows


# PowerPoint's automatic numbering schemes (a:buAutoNum type): the number format by the name's
# start, the marks around the number by its end ("arabicParenR" draws 1), "ea1ChsPeriod" 一．).
_SLIDE_FORMATS = (
    ("arabic", "decimal"), ("romanLc", "lowerRoman"), ("romanUc", "upperRoman"),
    ("alphaLc", "lowerLetter"), ("alphaUc", "upperLetter"),
    ("circleNum", "decimalEnclosedCircle"), ("ea1", "chineseCounting"),
)  # fmt: skip
_SLIDE_MARKS = (("ParenBoth", "({})"), ("ParenR", "{})"), ("DbPeriod", "{}．"), ("Period", "{}."))


def _numbered_text(frame: Any) -> str:
    """A text frame's paragraphs with the numbers PowerPoint draws before auto-numbered ones
    (a slide's steps lost them: they are no text). A number counts on through the paragraphs
    of its level and scheme; a paragraph at a shallower level ends the run below it."""
    from aigc.knowledge.number_formats import format_number

    lines = []
    counters: dict[int, tuple[str, int]] = {}  # level → scheme, last number
    for paragraph in frame.paragraphs:
        level = paragraph.level
        counters = {lvl: c for lvl, c in counters.items() if lvl <= level}
        auto = paragraph._p.find("./a:pPr/a:buAutoNum", _DRAWING)
        text = paragraph.text
        if auto is None:
            counters.pop(level, None)
            lines.append(text)
            continue
        scheme = auto.get("type", "arabicPeriod")
        previous = counters.get(level)
        start_at = auto.get("startAt", "1")
        start = int(start_at) if start_at.isdigit() else 1
        number = previous[1] + 1 if previous and previous[0] == scheme else start
        counters[level] = (scheme, number)
        fmt = next((f for prefix, f in _SLIDE_FORMATS if scheme.startswith(prefix)), "decimal")
        mark = next((m for suffix, m in _SLIDE_MARKS if scheme.endswith(suffix)), "{}")
        lines.append(f"{mark.format(format_number(number, fmt))} {text}" if text else text)
    return "\n".join(lines).strip()


_DRAWING = {"a": "http://schemas.openxmlformats.org/drawingml/2006/main"}


def parse_xlsx(data: bytes, limits: Limits) -> Iterator[Block]:
    check_zip(data, limits, "XLSX")
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    for sheet in book.worksheets:
        rows = ([_cell_text(cell) for cell in row] for row in sheet.iter_rows())
        merges = _merged_down(data, getattr(sheet, "_worksheet_path", ""))
        yield from _sheet_blocks(_fill_merged(rows, merges), [sheet.title])
    book.close()


def parse_calamine(data: bytes, limits: Limits) -> Iterator[Block]:
    """Excel 97-2003 (.xls), Excel's binary workbook (.xlsb) and OpenDocument spreadsheets
    (.ods), read by calamine (a Rust reader, python-calamine) in the capped worker process
    (``pdf_worker``: an ODS of a few kilobytes can repeat a cell over a million rows): each
    sheet as a table, a cell merged down standing in each row it covers. Until 2026-12-05
    they were refused with "save it as .xlsx". Cells come as values; a percentage of an .xls
    or .ods reads as one (``sheet_formats``), other number formats not (1234.5, not
    "¥1,234.50")."""
    from aigc.knowledge.pdf import run_worker

    if data[:4] == b"PK\x03\x04":  # .xlsb and .ods are zips: checked as Office zips are
        check_zip(data, limits, "spreadsheet")
    answer = run_worker(data, replace(limits.pdf, max_pages=limits.max_pages), "sheet")
    if "refused" in answer:
        raise DocumentRejected(answer["refused"], answer["code"], **answer.get("values", {}))
    for sheet in answer["sheets"]:
        merges = [(column, top, bottom) for column, top, bottom in sheet["merges"]]
        yield from _sheet_blocks(_fill_merged(sheet["rows"], merges), [sheet["name"]])


def _merged_down(data: bytes, sheet_path: str) -> list[tuple[int, int, int]]:
    """A sheet's cells merged over several rows, as (column, top row, bottom row), 1-based.

    A merged cell keeps its value in its top-left cell only: a department merged down the
    rows of its staff (合并单元格, everywhere in Chinese spreadsheets) left every row but the
    first without it. openpyxl's streaming reader does not report merges, so they are read
    from the sheet's own XML (``<mergeCell ref="A2:A9"/>``, after the rows). A merge within
    one row (a title over the columns) is left as it is.
    """
    import zipfile

    from lxml import etree
    from openpyxl.utils.cell import range_boundaries

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    merges = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(sheet_path) as xml:
            for _, element in etree.iterparse(
                xml, tag=f"{{{main}}}mergeCell", resolve_entities=False, no_network=True
            ):
                min_col, min_row, _, max_row = range_boundaries(element.get("ref", ""))
                if min_col and min_row and max_row and max_row > min_row:
                    merges.append((min_col, min_row, max_row))
                element.clear()
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile, etree.XMLSyntaxError):
        return []  # no such part, or a reference openpyxl cannot read: rows as they are
    return merges


def _fill_merged(
    rows: Iterable[list[str]], merges: list[tuple[int, int, int]]
) -> Iterator[list[str]]:
    """Rows with each cell merged down from above holding the merge's value."""
    starting: dict[int, list[tuple[int, int]]] = {}
    for column, top, bottom in merges:
        starting.setdefault(top, []).append((column, bottom))
    active: list[tuple[int, int, str]] = []  # column, bottom row, value
    for number, row in enumerate(rows, start=1):
        active = [merge for merge in active if merge[1] >= number]
        for column, _, value in active:
            row.extend([""] * (column - len(row)))  # a row that stops short of the merge
            if not row[column - 1]:
                row[column - 1] = value
        for column, bottom in starting.pop(number, []):
            if column <= len(row) and row[column - 1]:
                active.append((column, bottom, row[column - 1]))
        yield row


def _cell_text(cell: Any) -> str:
    """A cell's value as the sheet shows it, near enough (``sheet_values``), a cell formatted
    as a percentage as one."""
    return shown_text(cell.value, is_percent_format(cell.number_format or ""))


# Text formats get their text decoded first (``infra.text_encoding``), the others their bytes.
TEXT_PARSERS: dict[str, Callable[[str, Limits], Iterator[Block]]] = {
    "txt": parse_txt,
    "md": parse_md,
    "csv": parse_csv,
    "json": parse_json,
    "jsonl": parse_jsonl,
    "html": parse_html,  # decoded by the encoding its markup declares, if it reads in it
}
PARSERS: dict[str, Callable[[bytes, Limits], Iterator[Block]]] = {
    "docx": parse_docx,
    "pptx": parse_pptx,
    "xlsx": parse_xlsx,
    "mht": parse_mht,
    "xls": parse_calamine,
    "xlsb": parse_calamine,
    "ods": parse_calamine,
    "odt": parse_odt,
    "odp": parse_odp,
    "rtf": parse_rtf,
    "ofd": parse_ofd,
    "xlsxml": parse_xlsxml,  # only by content, under a legacy name (detect_format)
    "docxml": parse_docxml,
}
