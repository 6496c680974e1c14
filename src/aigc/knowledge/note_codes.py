"""Names for the notes on how a document was read, stored beside their English.

A document's ``notes`` are English sentences for API clients ("page 3 looks scanned and was not
read: OCR is off"); a ``Note`` is such a sentence that also carries a code and its values, so
the console can say it in its reader's language. The document keeps them as ``note_codes``,
one entry per note (None for a note that has no code). Every code is listed here and the
console has words for each (tests/console/test_read_notes.py checks it). A code, once stored,
keeps its meaning: add new ones, never reuse one.
"""

from __future__ import annotations

from typing import Any

SCANNED_UNREAD = "scanned_unread"  # pages (numbers, at most 20), more (bool), ocr (OCR_*)
PAGE_IMAGE_TOO_LARGE = "page_image_too_large"  # page, width, height, limit
PAGE_OCR_OUT_OF_TIME = "page_ocr_out_of_time"  # page
PAGE_OCR_FAILED = "page_ocr_failed"  # page, why (OCR_FAILED_*) and its values
PAGE_OCR_NO_TEXT = "page_ocr_no_text"  # page
PAGE_NOT_LOADED = "page_not_loaded"  # page
FRAMES_NOT_READ = "frames_not_read"  # limit
OCR_STOPPED_FROM = "ocr_stopped_from"  # page
PICTURES_LIMIT = "pictures_limit"  # read, total
PICTURE_NOT_READ = "picture_not_read"  # number, reason (failure_codes)
IN_PICTURE = "in_picture"  # number, note ({code, values} or None), text
IN_FILE = "in_file"  # name, note ({code, values} or None), text
FILES_NOT_READ = "files_not_read"  # names (at most 20), more (how many others)
ATTACHMENTS_NOT_READ = "attachments_not_read"  # names (at most 20)
BYTES_REPLACED = "bytes_replaced"  # count
READ_AS_ENCODING = "read_as_encoding"  # encoding
SAME_FILE_AS = "same_file_as"  # names (at most 3), more (how many others)

# Why OCR could not read a scanned page (SCANNED_UNREAD's ``ocr``); its ``languages``.
OCR_OFF = "off"
OCR_NOT_RUNNING = "not_running"
OCR_LANGUAGES_MISSING = "languages_missing"

# Why OCR failed on a page (PAGE_OCR_FAILED's ``why``), with the values each names.
OCR_FAILED_TIMEOUT = "timeout"  # seconds
OCR_FAILED_LAYOUT_TIMEOUT = "layout_timeout"  # seconds (Tesseract's orientation detection)
OCR_FAILED_TESSERACT = "tesseract"  # detail (Tesseract's own words)
OCR_FAILED_IMAGE = "image_unreadable"  # detail (Pillow's words: a truncated frame)
OCR_FAILED = frozenset(
    {OCR_FAILED_TIMEOUT, OCR_FAILED_LAYOUT_TIMEOUT, OCR_FAILED_TESSERACT, OCR_FAILED_IMAGE}
)

CODES = frozenset(
    {
        SCANNED_UNREAD,
        PAGE_IMAGE_TOO_LARGE,
        PAGE_OCR_OUT_OF_TIME,
        PAGE_OCR_FAILED,
        PAGE_OCR_NO_TEXT,
        PAGE_NOT_LOADED,
        FRAMES_NOT_READ,
        OCR_STOPPED_FROM,
        PICTURES_LIMIT,
        PICTURE_NOT_READ,
        IN_PICTURE,
        IN_FILE,
        FILES_NOT_READ,
        ATTACHMENTS_NOT_READ,
        BYTES_REPLACED,
        READ_AS_ENCODING,
        SAME_FILE_AS,
    }
)


class Note(str):
    """A note's English text (what the API serves), with its code and values (JSON)."""

    code: str
    values: dict[str, Any]

    def __new__(cls, text: str, code: str, /, **values: Any) -> Note:
        note = super().__new__(cls, text)
        note.code, note.values = code, values
        return note

    def named(self) -> dict[str, Any]:
        return {"code": self.code, "values": self.values}


def named(note: str) -> dict[str, Any] | None:
    """What ``note_codes`` keeps for a note: its code and values, or None (not named)."""
    return note.named() if isinstance(note, Note) else None


def codes_of(notes: list[str]) -> list[dict[str, Any] | None] | None:
    """The ``note_codes`` column for ``notes``: one entry each; None for no notes."""
    return [named(n) for n in notes] or None


def within(code: str, prefix: str, note: str, **values: Any) -> Note:
    """A note of a part of the document (a picture, an archive's file), under its name."""
    return Note(f"{prefix}: {note}", code, note=named(note), text=str(note), **values)
