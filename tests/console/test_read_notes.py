"""A document's notes on how it was read are said in Chinese on a Chinese page, from the code
and values the parsers store beside each English note ("page 2 looks scanned and was not read:
OCR is off" inside "读取说明：" before)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from aigc.console import i18n
from aigc.console.i18n import Translator
from aigc.console.pages.knowledge_notes import notes_text
from aigc.knowledge import note_codes, parse
from aigc.knowledge.pdf_worker import PdfLimits

ZH, EN = Translator("zh-CN"), Translator("en")
LEAVE_BIG5 = "員工到職滿一年後，每年享有十五天帶薪年假，須提前兩週申請。".encode("big5")


def _served(notes: list[str]) -> dict[str, Any]:
    """The document as GET /api/kb/{id}/documents serves it (through JSON)."""
    doc = {"notes": list(notes), "note_codes": note_codes.codes_of(notes)}
    return dict(json.loads(json.dumps(doc)))


def _text_then_scan() -> bytes:
    """A PDF whose first page has text and whose second is a picture (a scanned page)."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    picture = Image.new("L", (800, 1000), 255)
    ImageDraw.Draw(picture).rectangle((100, 100, 700, 900), outline=0, width=8)
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Annual leave is fifteen days a year after the first year of service.")
    pdf.add_page()
    pdf.image(picture, x=0, y=0, w=210, h=297)
    return bytes(pdf.output())


def test_a_scanned_page_left_unread_is_said_in_chinese() -> None:
    limits = parse.Limits(pdf=PdfLimits(ocr=False))
    read = parse.parse_document(_text_then_scan(), "pdf", limits)
    assert read.notes == ["page 2 looks scanned and was not read: OCR is off"]  # the API's
    doc = _served(read.notes)
    assert notes_text(ZH, doc) == "第 2 页似为扫描件，未能读取：OCR 未开启"
    assert notes_text(EN, doc) == read.notes[0]


def test_an_archives_notes_name_its_files_in_chinese() -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("年假.txt", LEAVE_BIG5)
        archive.writestr("tool.exe", b"MZ\x90")
    read = parse.parse_document(packed.getvalue(), "zip", parse.Limits())
    assert read.notes == [
        "年假.txt: read as big5 text (the file is not UTF-8)",
        "files not read: tool.exe",
    ]
    doc = _served(read.notes)
    assert (
        notes_text(ZH, doc)
        == "年假.txt：按 big5 编码读取（该文件不是 UTF-8）；未读取的文件：tool.exe"
    )
    assert notes_text(EN, doc) == "; ".join(read.notes)


def test_a_note_without_a_code_is_shown_as_written() -> None:
    assert notes_text(ZH, {"notes": ["an old note"]}) == "an old note"
    doc = {"notes": ["x"], "note_codes": [{"code": "no_such_code", "values": {}}]}
    assert notes_text(ZH, doc) == "x"


def test_every_note_code_has_words_in_every_language() -> None:
    for code in note_codes.CODES:
        for lang in i18n.LANGUAGES:
            assert f"kb.note.{code}" in i18n.TABLE[lang], (code, lang)
