"""A document's notes on how it was read are said in Chinese on a Chinese page, from the code
and values the parsers store beside each English note ("page 2 looks scanned and was not read:
OCR is off" inside "读取说明：" before)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from typing import Any

import pytest

from aigc.console import i18n
from aigc.console.i18n import Translator
from aigc.console.pages.knowledge_notes import notes_text
from aigc.knowledge import note_codes, ocr, parse
from aigc.knowledge.pdf_worker import Outcome, PdfLimits

ZH, EN = Translator("zh-CN"), Translator("en")
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract is not installed (OCR tests)"
)
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


def _frame(text: str) -> Any:
    from PIL import Image, ImageDraw, ImageFont

    frame = Image.new("L", (1200, 300), 255)
    ImageDraw.Draw(frame).text((40, 100), text, fill=0, font=ImageFont.load_default(size=48))
    return frame


@needs_tesseract
def test_a_frame_ocr_could_not_decode_says_why_in_chinese() -> None:
    first, second = _frame("Annual leave is fifteen days."), _frame("Sick leave needs a note.")
    packed = io.BytesIO()
    first.save(packed, "TIFF", save_all=True, append_images=[second])
    cut = packed.getvalue()[:-200]  # the second frame's last bytes lost
    read = parse.parse_document(cut, "tiff", parse.Limits())
    (note,) = read.notes
    assert note.startswith("page 2: OCR image file is truncated")  # the API's, as before
    doc = _served(read.notes)
    assert notes_text(ZH, doc) == "第 2 页：OCR 识别失败（该帧图片已损坏或不完整，无法解码）"
    assert notes_text(EN, doc) == note


@needs_tesseract
def test_tesseracts_own_refusal_is_kept_in_the_chinese_note() -> None:
    with pytest.raises(ocr.OcrFailed) as failed:
        ocr.read_image(_frame("Annual leave"), "no_such_language", 60)
    outcome = Outcome()
    outcome.ocr_failed(3, failed.value)
    (note,) = outcome.problems
    detail = failed.value.values["detail"]
    assert note == f"page 3: OCR Tesseract failed ({detail})"
    assert "no_such_language" in detail
    doc = {"notes": [note], "note_codes": outcome.problem_codes}
    assert notes_text(ZH, doc) == f"第 3 页：OCR 识别失败（Tesseract 报告：{detail}）"


def test_an_ocr_failure_stored_without_its_reason_keeps_the_plain_words() -> None:
    named = {"code": note_codes.PAGE_OCR_FAILED, "values": {"page": 4}}
    doc = {"notes": ["page 4: OCR reading took longer than 60 s"], "note_codes": [named]}
    assert notes_text(ZH, doc) == "第 4 页：OCR 识别失败"


def test_every_ocr_failure_has_words_in_every_language() -> None:
    for why in note_codes.OCR_FAILED:
        for lang in i18n.LANGUAGES:
            assert f"kb.note.ocr_failed.{why}" in i18n.TABLE[lang], (why, lang)
