"""Stable codes for why a document could not be indexed, stored beside the English reason.

The reason's text is for people reading the API (it may name a page count or a library's
words); the code is for programs and for the console, which tells the reason in the reader's
language. A code, once stored, keeps its meaning: add new ones, never reuse one.
"""

from __future__ import annotations

PDF_CORRUPT = "pdf_corrupt"
PDF_PASSWORD = "pdf_password"
PDF_NO_PAGES = "pdf_no_pages"
PDF_XFA = "pdf_xfa"
NO_TEXT = "no_text"
UNREADABLE_COPY = "stored_copy_unreadable"
PROCESSING_ERROR = "processing_error"

CODES = frozenset(
    {PDF_CORRUPT, PDF_PASSWORD, PDF_NO_PAGES, PDF_XFA, NO_TEXT, UNREADABLE_COPY, PROCESSING_ERROR}
)
