"""Reads one PDF, image or binary spreadsheet in a child process: ``python -m
aigc.knowledge.pdf_worker LIMITS_JSON [image|sheet]``.

The file comes on stdin; one JSON object goes to stdout: ``{"pages": [{"page", "text", "ocr"}],
"problems": [...], "unread_scans": [...]}`` or ``{"refused": reason}``. The process caps its own
address space first, so a decompression bomb or a pathological structure ends this process
with a memory error instead of the server; the parent also kills it past a time budget.

PDFium (pypdfium2) parses: it opens owner-password files (an empty user password) as every
viewer does, repairs broken xref tables and needs no extra crypto package. A page with drawn
content but next to no plausible text is rendered (capped in pixels) and read by Tesseract.
An image file (a scanned notice, a photographed receipt, a screenshot; each frame of a TIFF is
a page) is read by Tesseract too, here for the same reason: decoding an image is where a
decompression bomb goes off, so its pixel count is checked from the header first and the
decoding happens under the memory cap. A binary spreadsheet (.xls, .xlsb, .ods) is read by
calamine here too: a few kilobytes of ODS can repeat a cell over a million rows, and the
reader builds the whole sheet in memory (``{"sheets": [{"name", "rows", "merges"}]}``).
"""

from __future__ import annotations

import io
import json
import re
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aigc.knowledge import failure_codes, note_codes, ocr, pdf_forms
from aigc.knowledge.failure_codes import PDF_CORRUPT, PDF_NO_PAGES, PDF_PASSWORD, PDF_XFA
from aigc.knowledge.pdf_layout import page_text
from aigc.knowledge.reasons import with_reason

if TYPE_CHECKING:
    from pypdfium2 import PdfDocument, PdfPage

MIB = 1024 * 1024


@dataclass
class PdfLimits:
    """What one PDF may cost. Defaults fit a 500-page filing with room to spare."""

    max_pages: int = 2000
    memory_mb: int = 2048
    timeout_s: float = 900.0
    max_image_pixels: int = 180_000_000  # Pillow's own decompression-bomb bound
    ocr: bool = True
    ocr_languages: str = "eng+chi_sim"
    ocr_dpi: int = 300
    ocr_max_pixels: int = 12_000_000  # a letter page at 300 dpi is 8.4 MP
    ocr_page_timeout_s: float = 60.0
    ocr_share: float = 0.8  # of timeout_s: after it, no page is started
    min_text_chars: int = 20


@dataclass
class Outcome:
    pages: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # each problem's code and values (note_codes), for the console to say it in its language
    problem_codes: list[dict[str, Any]] = field(default_factory=list)
    unread_scans: list[int] = field(default_factory=list)
    ocr_missing: str | None = None
    ocr_missing_code: dict[str, Any] | None = None  # note_codes.OCR_* and the languages
    # The PDF's bookmarks: {"level": 0.., "title", "page": 1..}, in the order the file lists them.
    outline: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, text: str, code: str, **values: Any) -> None:
        """A page or frame read only partly: the English for the API, the code for the console."""
        self.problems.append(text)
        self.problem_codes.append({"code": code, "values": values})

    def ocr_failed(self, number: int, exc: ocr.OcrFailed) -> None:
        """OCR did not read page ``number``: why, in English and by its code and values."""
        values = {"page": number, "why": exc.why, **exc.values}
        self.problem(f"page {number}: OCR {exc}", note_codes.PAGE_OCR_FAILED, **values)


MAX_OUTLINE = 5000  # bookmarks read at most (a 500-page filing has a few hundred)


def read_outline(pdf: PdfDocument) -> list[dict[str, Any]]:
    """The bookmarks that point at a page: what a Word document's headings become when it is
    saved as PDF, and what a viewer's side panel shows. Loops in the bookmark tree are
    PDFium's to break (it tracks the bookmarks it has seen)."""
    outline: list[dict[str, Any]] = []
    try:
        for mark in pdf.get_toc(max_depth=8):
            dest = mark.get_dest()
            page = dest.get_index() if dest is not None else None
            title = " ".join((mark.get_title() or "").split())
            if page is not None and title:
                outline.append({"level": mark.level, "title": title[:200], "page": page + 1})
            if len(outline) >= MAX_OUTLINE:
                break
    except Exception:  # a broken bookmark tree: the text's own headings are used instead
        return []
    return outline


class Refused(Exception):
    """The whole PDF is refused; the message says why, ``code`` names it (``failure_codes``)."""

    def __init__(self, message: str, code: str, /, **values: Any) -> None:
        super().__init__(message)
        self.code, self.values = code, values  # values: as DocumentRejected's


def open_pdf(data: bytes) -> PdfDocument:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)  # no password: owner-password files open, as in viewers
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise Refused(
                "The PDF needs a password to open (a user password is set); upload a copy "
                "without the password",
                PDF_PASSWORD,
            ) from None
        raise Refused(with_reason("The PDF is corrupt or not a PDF", exc), PDF_CORRUPT) from None


def alnum(text: str) -> int:
    """Letters and digits (any script, CJK included)."""
    return sum(ch.isalnum() for ch in text)


def looks_scanned(page: PdfPage, text: str, limits: PdfLimits) -> bool:
    """Drawn content (an image, vector paths) but next to no text, or text that is mostly not
    letters (a font without a Unicode mapping yields symbols): worth reading by OCR."""
    letters = alnum(text)
    if letters >= limits.min_text_chars:
        return False
    visible = [ch for ch in text if not ch.isspace()]
    garbled = bool(visible) and letters < 0.5 * len(visible)
    import pypdfium2.raw as raw

    drawn = any(o.type != raw.FPDF_PAGEOBJ_TEXT for o in page.get_objects(max_depth=2))
    return drawn or garbled


def largest_image(page: PdfPage) -> tuple[int, int]:
    """The pixel size of the page's largest image, read from its dictionary (not decoded)."""
    import pypdfium2.raw as raw

    best = (0, 0)
    for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=2):
        width, height = obj.get_px_size()
        if width * height > best[0] * best[1]:
            best = (width, height)
    return best


def ocr_page(page: PdfPage, limits: PdfLimits) -> str:
    """Render the page (its /Rotate applied) within the pixel cap, then read it."""
    width, height = page.get_size()
    scale = limits.ocr_dpi / 72
    pixels = width * height * scale * scale
    if pixels > limits.ocr_max_pixels:
        scale *= (limits.ocr_max_pixels / pixels) ** 0.5
    image = page.render(scale=scale, grayscale=True).to_pil()
    return ocr.read_image(image, limits.ocr_languages, limits.ocr_page_timeout_s)


@dataclass
class OcrState:
    """OCR across the pages of one PDF: whether it can run, and until when it may start."""

    until: float
    missing: str | None = None
    checked: bool = False


def read_scan(
    page: PdfPage, number: int, text: str, limits: PdfLimits, state: OcrState, outcome: Outcome
) -> dict[str, Any]:
    """A scanned page: read by OCR when it can be, else its text layer and a note why not."""
    kept = {"page": number, "text": text, "ocr": False}
    image_w, image_h = largest_image(page)
    if image_w * image_h > limits.max_image_pixels:
        outcome.problem(
            f"page {number} holds an image too large to read ({image_w}×{image_h} pixels; "
            f"the limit is {limits.max_image_pixels:,} pixels)",
            note_codes.PAGE_IMAGE_TOO_LARGE,
            page=number,
            width=image_w,
            height=image_h,
            limit=limits.max_image_pixels,
        )
        return kept
    if not state.checked:
        state.missing = ocr.available(limits.ocr_languages) if limits.ocr else "OCR is off"
        state.checked, outcome.ocr_missing = True, state.missing
        outcome.ocr_missing_code = _ocr_missing_code(state.missing, limits)
    if state.missing is not None:
        outcome.unread_scans.append(number)
        return kept
    if time.monotonic() > state.until:  # keep what was read rather than lose it all
        outcome.problem(
            f"page {number} looks scanned; OCR stopped, out of time",
            note_codes.PAGE_OCR_OUT_OF_TIME,
            page=number,
        )
        return kept
    try:
        read = ocr_page(page, limits)
    except ocr.OcrFailed as exc:
        outcome.ocr_failed(number, exc)
        return kept
    if alnum(read) <= alnum(text):
        outcome.problem(
            f"page {number} looks scanned, but OCR found no text on it",
            note_codes.PAGE_OCR_NO_TEXT,
            page=number,
        )
        return kept
    return {"page": number, "text": read, "ocr": True}


def _ocr_missing_code(missing: str | None, limits: PdfLimits) -> dict[str, Any] | None:
    """Why OCR cannot run (``ocr.available``'s sentence), named for the console."""
    if missing is None:
        return None
    if not limits.ocr:
        return {"ocr": note_codes.OCR_OFF}
    languages = re.match(r"the OCR languages (.+) are not installed", missing)
    if languages:
        return {"ocr": note_codes.OCR_LANGUAGES_MISSING, "languages": languages[1]}
    return {"ocr": note_codes.OCR_NOT_RUNNING}


def read_pages(pdf: PdfDocument, limits: PdfLimits) -> Outcome:
    outcome = Outcome()
    count = len(pdf)
    if count == 0:
        raise Refused("The PDF has no pages", PDF_NO_PAGES)
    if count > limits.max_pages:
        raise Refused(
            f"The PDF has {count} pages; the limit is {limits.max_pages}",
            failure_codes.PDF_TOO_MANY_PAGES,
            pages=count,
            limit=limits.max_pages,
        )
    # OCR starts no page after its share of the time budget: the parent kills the process at
    # the end of it, and the pages read so far would be lost.
    state = OcrState(until=time.monotonic() + limits.ocr_share * limits.timeout_s)
    form = pdf_forms.init_forms(pdf)  # before any page is loaded
    for number in range(1, count + 1):
        try:
            page = pdf[number - 1]
        except Exception:  # PDFium's error: a broken or too deeply nested page tree
            outcome.problem(
                f"page {number} could not be loaded (its page tree is broken or nested too deeply)",
                note_codes.PAGE_NOT_LOADED,
                page=number,
            )
            continue
        text = page_text(page.get_textpage())
        if looks_scanned(page, text, limits):
            read = read_scan(page, number, text, limits, state, outcome)
        else:
            read = {"page": number, "text": text, "ocr": False}
        if form and (filled := pdf_forms.field_lines(pdf, page)):
            # what is filled in on the form, after the page's printed text
            read["text"] = "\n\n".join(part for part in (read["text"], "\n".join(filled)) if part)
        outcome.pages.append(read)
    return outcome


# Tesseract reads text best at 20-30 pixels per line: a screenshot's small print is enlarged.
SMALL_IMAGE_SIDE = 1600


def read_image_pages(data: bytes, limits: PdfLimits) -> Outcome:
    """An image file's frames read by OCR, one page each; ``Refused`` when it is no image,
    too large, or OCR cannot run (an image has no text but what OCR reads)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the limit below, from the header, before decoding
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:  # its text names our stream object, not the file
        raise Refused(
            "The file is not an image Pillow can read (PNG, JPEG, TIFF, BMP or WebP)",
            failure_codes.IMAGE_UNREADABLE,
        ) from None
    except (OSError, ValueError) as exc:  # a damaged one: "Truncated File Read"
        raise Refused(
            with_reason("The file is not an image Pillow can read", exc),
            failure_codes.IMAGE_UNREADABLE,
        ) from None
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise Refused(
            f"The image is too large to read ({width}×{height} pixels; the limit is "
            f"{limits.max_image_pixels:,} pixels)",
            failure_codes.IMAGE_TOO_LARGE,
            width=width,
            height=height,
            limit=limits.max_image_pixels,
        )
    missing = ocr.available(limits.ocr_languages) if limits.ocr else "OCR is off"
    if missing is not None:
        raise Refused(
            f"An image's text can only be read by OCR, and {missing}",
            failure_codes.OCR_UNAVAILABLE,
        )
    outcome = Outcome()
    until = time.monotonic() + limits.ocr_share * limits.timeout_s
    for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
        if number > limits.max_pages:
            outcome.problem(
                f"frames after {limits.max_pages} were not read",
                note_codes.FRAMES_NOT_READ,
                limit=limits.max_pages,
            )
            break
        if time.monotonic() > until:
            outcome.problem(
                f"page {number} and after: OCR stopped, out of time",
                note_codes.OCR_STOPPED_FROM,
                page=number,
            )
            break
        try:
            text = ocr.read_image(
                _for_ocr(frame, limits), limits.ocr_languages, limits.ocr_page_timeout_s
            )
        except ocr.OcrFailed as exc:
            outcome.ocr_failed(number, exc)
            continue
        except OSError as exc:  # a truncated frame: Pillow's words, as the API said them
            failed = ocr.OcrFailed(str(exc), note_codes.OCR_FAILED_IMAGE, detail=str(exc)[:200])
            outcome.ocr_failed(number, failed)
            continue
        outcome.pages.append({"page": number, "text": text, "ocr": True})
    return outcome


def _for_ocr(frame: Any, limits: PdfLimits) -> Any:
    """A frame in grey, within the OCR pixel cap, small print enlarged."""
    from PIL import Image, ImageOps

    page = ImageOps.exif_transpose(frame).convert("L")  # a phone photo's own orientation
    scale = (
        min(2.0, SMALL_IMAGE_SIDE / max(page.size)) if max(page.size) < SMALL_IMAGE_SIDE else 1.0
    )
    pixels = page.size[0] * page.size[1] * scale * scale
    if pixels > limits.ocr_max_pixels:
        scale *= (limits.ocr_max_pixels / pixels) ** 0.5
    if abs(scale - 1.0) > 0.01:
        size = (max(1, round(page.size[0] * scale)), max(1, round(page.size[1] * scale)))
        page = page.resize(size, Image.Resampling.LANCZOS)
    return page


def needs_rendering(data: bytes) -> bool:
    """The catalog says /NeedsRendering: a dynamic XFA form whose content is not in the pages."""
    from pypdf import PdfReader

    try:
        root = PdfReader(io.BytesIO(data), strict=False).root_object
        return bool(root.get("/NeedsRendering", False))
    except Exception:  # pypdf cannot read what PDFium did: no answer is "no"
        return False


MAX_SHEET_CELLS = 2_000_000  # cells read from one spreadsheet, all its sheets together


def read_sheets(data: bytes) -> dict[str, Any]:
    """A binary spreadsheet's worksheets: each one's name, its rows of cell values as text
    (``sheet_values.value_text``), and its cells merged down as [column, top, bottom]
    (1-based); ``Refused`` past ``MAX_SHEET_CELLS`` cells."""
    from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

    from aigc.knowledge.sheet_formats import percent_cells
    from aigc.knowledge.sheet_values import shown_text

    sheets, budget = [], MAX_SHEET_CELLS
    percentages = percent_cells(data, MAX_SHEET_CELLS)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        for meta in book.sheets_metadata:
            if meta.typ != SheetTypeEnum.WorkSheet:  # a chart sheet, a macro sheet
                continue
            sheet = book.get_sheet_by_name(meta.name)
            top_row, left_column = sheet.start or (0, 0)
            raw = []
            for row in sheet.iter_rows():
                budget -= len(row)
                if budget < 0:
                    raise Refused(
                        f"The spreadsheet has more than {MAX_SHEET_CELLS:,} cells, the limit: "
                        "upload the sheets or the rows that matter",
                        failure_codes.SHEET_TOO_MANY_CELLS,
                        limit=MAX_SHEET_CELLS,
                    )
                raw.append(row)
            # calamine's rows run from the sheet's first row (its columns from the first
            # column that holds a cell), so they keep their numbers; padded here should a
            # version yield only the rows from ``start`` on. (The rows were padded again
            # until 2026-12-05: a department merged down below blank top rows landed on the
            # wrong rows.)
            first = 0 if len(raw) > sheet.height else top_row
            percent = percentages.get(meta.name, set())
            rows: list[list[str]] = [[] for _ in range(first)]
            for number, row in enumerate(raw, start=first):
                rows.append(
                    [
                        shown_text(value, (number, left_column + c) in percent)
                        for c, value in enumerate(row)
                    ]
                )
            merges = [  # columns from the sheet's first, as its rows start there
                [left - left_column + 1, top + 1, bottom + 1]
                for (top, left), (bottom, _) in (sheet.merged_cell_ranges or [])
                if bottom > top
            ]
            sheets.append({"name": meta.name, "rows": rows, "merges": merges})
    except (CalamineError, ValueError, KeyError) as exc:
        raise Refused(
            with_reason("The spreadsheet could not be read", exc), failure_codes.SHEET_UNREADABLE
        ) from None
    return {"sheets": sheets}


def run(data: bytes, limits: PdfLimits, mode: str = "pdf") -> dict[str, Any]:
    if mode in ("image", "sheet"):
        try:
            return read_sheets(data) if mode == "sheet" else asdict(read_image_pages(data, limits))
        except Refused as exc:
            return {"refused": str(exc), "code": exc.code, "values": exc.values}
    try:
        pdf = open_pdf(data)
        try:
            outcome = read_pages(pdf, limits)
            outcome.outline = read_outline(pdf)
        finally:
            pdf.close()
    except Refused as exc:
        return {"refused": str(exc), "code": exc.code, "values": exc.values}
    if not any(alnum(p["text"]) for p in outcome.pages) and needs_rendering(data):
        return {
            "code": PDF_XFA,
            "refused": "The PDF is a dynamic XFA form: its content is not in the PDF pages "
            "(export or print it to a normal PDF first)",
        }
    return asdict(outcome)


def main() -> None:
    limits = PdfLimits(**json.loads(sys.argv[1]))
    cap = limits.memory_mb * MIB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    mode = sys.argv[2] if len(sys.argv) > 2 else "pdf"
    data = sys.stdin.buffer.read()
    try:
        result = run(data, limits, mode)
    except MemoryError:
        what = {"image": "the image", "sheet": "the spreadsheet"}.get(mode, "the PDF")
        result = {
            "refused": f"Reading {what} needs more than {limits.memory_mb} MB of memory",
            "code": failure_codes.READ_OUT_OF_MEMORY,
            "values": {"memory_mb": limits.memory_mb},
        }
    sys.stdout.write(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
