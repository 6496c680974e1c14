"""A file a parser cannot read is refused with a plain reason: no Python object reprs, no
exception class names or raw KeyError text, no paths of this server (``knowledge.reasons``).

The reports: "The file is not an image that could be read (cannot identify image file
<_io.BytesIO object at 0x5580c5733620>)" and "The DOCX file could not be read (KeyError:
\\"There is no item named '[Content_Types].xml' in the archive\\")".
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from aigc.knowledge import email_message, parse
from aigc.knowledge.pdf_worker import PdfLimits, Refused, open_pdf, read_image_pages, read_sheets
from aigc.knowledge.reasons import library_reason

_INTERNAL = re.compile(r"object at 0x|KeyError|IndexError|Error:|/tmp/|site-packages")


def _zip(**parts: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name.replace("__", "/"), text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("docx", "Not a valid DOCX file: the archive lacks [Content_Types].xml"),
        ("xlsx", "Not a valid XLSX file: the archive lacks [Content_Types].xml"),
        ("pptx", "Not a valid PPTX file: the archive lacks [Content_Types].xml"),
        ("ofd", "Not a valid OFD file: the archive lacks OFD.xml"),
    ],
)
def test_an_office_zip_without_its_parts_says_which_part_is_missing(
    fmt: str, expected: str
) -> None:
    with pytest.raises(parse.DocumentRejected) as caught:
        parse.parse(_zip(word__document="<w/>"), fmt)
    assert str(caught.value) == expected


def test_an_image_pillow_cannot_identify_is_named_without_its_stream_object() -> None:
    with pytest.raises(Refused) as caught:
        read_image_pages(b"GIF89a but not really", PdfLimits())
    assert str(caught.value).startswith("The file is not an image Pillow can read")
    assert not _INTERNAL.search(str(caught.value))


def test_a_spreadsheet_and_a_pdf_that_cannot_be_read_say_so_plainly() -> None:
    with pytest.raises(Refused) as sheet:
        read_sheets(b"\xd0\xcf\x11\xe0 not an Excel file")
    assert str(sheet.value).startswith("The spreadsheet could not be read")
    with pytest.raises(Refused) as pdf:
        open_pdf(b"%PDF-1.7 truncated")
    assert str(pdf.value).startswith("The PDF is corrupt or not a PDF")
    for refused in (sheet.value, pdf.value):
        assert not _INTERNAL.search(str(refused)), refused


def test_an_e_mail_its_library_trips_over_says_nothing_of_the_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def trips(data: bytes, limits: parse.Limits) -> parse.Parsed:
        raise IndexError("list index out of range")  # a library's slip on the file

    monkeypatch.setattr(email_message, "read_email", trips)
    with pytest.raises(parse.DocumentRejected) as caught:
        parse.parse(b"From: a@b.example\n\nhi", "eml")
    assert str(caught.value) == "The e-mail could not be read"


def test_a_library_s_words_lose_reprs_paths_and_errnos() -> None:
    seen = OSError(2, "No such file or directory")
    seen.filename = "/tmp/aigc/cache/knowledge/doc_1"
    assert library_reason(seen) == "No such file or directory"
    assert library_reason(ValueError("cannot read <_io.BytesIO object at 0x7f00>: bad")) == (
        "cannot read : bad"
    )
    assert library_reason(KeyError("word/document.xml")) == ""
    assert library_reason(AttributeError("'NoneType' object has no attribute 'x'")) == ""
