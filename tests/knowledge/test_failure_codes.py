"""Every reason a document is refused for has a code, and every code has its words in each
console language: the console says why in Chinese for DOCX, e-mail, archive, spreadsheet,
image and PDF-limit refusals too, not only for the few PDF reasons coded first.

Found in review: uploading a .docx whose bytes were b"garbage" showed "The DOCX file is
corrupt (not a valid zip container)" on the Chinese knowledge page (no ``error_code``).
"""

from __future__ import annotations

import importlib.util
import io
import re
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

import aigc.infra
from aigc.knowledge import failure_codes, parse
from aigc.knowledge.pdf_worker import PdfLimits

from .pdfs import locked_pdf

_CJK = re.compile(r"[\u4e00-\u9fff]")


def _zip(**parts: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _migration() -> ModuleType:
    """Migration 0015, which gives reasons stored before codes their code."""
    folder = Path(aigc.infra.__file__).parent / "migrations" / "versions"
    (path,) = folder.glob("0015_*.py")
    spec = importlib.util.spec_from_file_location("migration_0015", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ONE_PAGE = locked_pdf("page one", "")  # a readable PDF (owner password only)

CASES = [
    ("docx", b"garbage", parse.Limits(), failure_codes.ZIP_CORRUPT),
    ("pptx", b"garbage", parse.Limits(), failure_codes.ZIP_CORRUPT),
    ("xlsx", b"garbage", parse.Limits(), failure_codes.ZIP_CORRUPT),
    ("odt", b"garbage", parse.Limits(), failure_codes.ZIP_CORRUPT),
    ("docx", _zip(**{"word/document.xml": b"<w/>"}), parse.Limits(), failure_codes.INVALID_FILE),
    ("odt", _zip(mimetype=b"x"), parse.Limits(), failure_codes.ODF_NO_CONTENT),
    ("jsonl", b'{"a": 1}\n{broken\n', parse.Limits(), failure_codes.JSONL_INVALID_LINE),
    ("txt", bytes(range(256)) * 4, parse.Limits(), failure_codes.TEXT_UNDECODABLE),
    ("zip", b"garbage", parse.Limits(), failure_codes.ZIP_CORRUPT),
    ("eml", b"", parse.Limits(), failure_codes.EMAIL_INVALID),
    ("zip", _zip(**{"a.docx": b"garbage"}), parse.Limits(), failure_codes.ARCHIVE_NOTHING_READABLE),
    ("png", b"garbage", parse.Limits(), failure_codes.IMAGE_UNREADABLE),
    ("xls", b"\xd0\xcf\x11\xe0 not Excel", parse.Limits(), failure_codes.SHEET_UNREADABLE),
    ("pdf", b"garbage", parse.Limits(), failure_codes.PDF_CORRUPT),
    ("pdf", _ONE_PAGE, parse.Limits(max_pages=0), failure_codes.PDF_TOO_MANY_PAGES),
    (
        "pdf",
        _ONE_PAGE,
        parse.Limits(pdf=PdfLimits(memory_mb=1)),
        failure_codes.READ_OUT_OF_MEMORY,
    ),
]


@pytest.mark.parametrize(("fmt", "data", "limits", "code"), CASES)
def test_a_refused_file_names_its_reason_by_a_code_with_words_in_every_language(
    fmt: str, data: bytes, limits: parse.Limits, code: str
) -> None:
    with pytest.raises(parse.DocumentRejected) as caught:
        parse.parse(data, fmt, limits)
    assert caught.value.code == code, str(caught.value)
    # reasons stored before codes are given this code by migration 0015
    assert _migration().code_of(str(caught.value)) == code


def test_every_code_has_english_and_chinese_words() -> None:
    for code, reason in failure_codes.REASONS.items():
        assert reason.en.strip() and not _CJK.search(reason.en), code
        assert _CJK.search(reason.zh), code


def test_every_code_the_knowledge_layer_names_is_in_the_table() -> None:
    """A code named in the source (``failure_codes.X``) but left out of ``REASONS`` would be
    stored with no words for the console."""
    source = Path(failure_codes.__file__).parent
    named = {
        name
        for path in source.glob("*.py")
        for name in re.findall(r"failure_codes\.([A-Z_]+)\b", path.read_text(encoding="utf-8"))
    }
    assert named, "no code named at all: the pattern is wrong"
    for name in named:
        assert getattr(failure_codes, name) in failure_codes.REASONS, name
