"""Image files as documents: a scanned notice, a photographed receipt, a screenshot. They were
refused as an unsupported file type; their text is read by OCR, in the capped worker process."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from aigc.knowledge import parse
from aigc.knowledge.grounding import citations
from aigc.knowledge.retrieve import search

from .conftest import Sandbox

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # fonts-wqy-zenhei (make deps)
needs_ocr = pytest.mark.skipif(
    shutil.which("tesseract") is None or not FONT.exists(),
    reason="Tesseract or the CJK font is not installed (make deps)",
)
NOTICE = ["通知：本周五下午三点召开安全会议。", "Meeting room 5B, bring your badge."]


def notice(lines: list[str] = NOTICE, size: int = 36) -> Image.Image:
    font = ImageFont.truetype(str(FONT), size)
    image = Image.new("RGB", (32 * size, 60 + 2 * size * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size, size + 2 * size * i), line, font=font, fill="black")
    return image


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@needs_ocr
@pytest.mark.parametrize(("fmt", "name"), [("PNG", "notice.png"), ("JPEG", "notice.jpeg")])
def test_an_image_of_chinese_and_english_is_read_by_ocr(fmt: str, name: str) -> None:
    """Mixed scripts: OSD names one script with next to no confidence; reading the page in
    that script's language alone lost the other (Chinese read as 'AR RFE RAF'), and reading
    both put a space between Chinese characters."""
    read = parse.parse_document(encoded(notice(), fmt), parse.detect_format(name))
    assert "\n".join(b.text for b in read.blocks) == "\n".join(
        ["通知 : 本周五下午三点召开安全会议。", "Meeting room 5B, bring your badge."]
    )
    assert {(b.page, b.meta["ocr"]) for b in read.blocks} == {(1, "true")}


@needs_ocr
def test_each_frame_of_a_tiff_is_a_page_and_small_print_is_enlarged() -> None:
    first, second = notice(["第一页：报销须知"], 18), notice(["Page two: travel policy"], 18)
    data = encoded(first, "TIFF", save_all=True, append_images=[second])
    blocks = parse.parse_document(data, "tiff").blocks
    assert [(b.text, b.page) for b in blocks] == [
        ("第一页 : 报销须知", 1),
        ("Page two: travel policy", 2),
    ]


def test_images_that_cannot_be_read_are_refused_with_the_reason() -> None:
    with pytest.raises(parse.DocumentRejected, match="not an image Pillow can read") as caught:
        parse.parse_document(b"\x89PNG\r\n\x1a\n" + b"not really", "png")
    assert "object at 0x" not in str(caught.value)  # Pillow named its BytesIO
    small = parse.Limits()
    small = replace(small, pdf=replace(small.pdf, max_image_pixels=10_000))
    with pytest.raises(parse.DocumentRejected, match=r"too large to read \(1152×132 pixels"):
        parse.parse_document(encoded(notice(NOTICE[:1]), "PNG"), "png", small)
    off = replace(parse.Limits(), pdf=replace(parse.Limits().pdf, ocr=False))
    with pytest.raises(parse.DocumentRejected, match="can only be read by OCR, and OCR is off"):
        parse.parse_document(encoded(notice(), "PNG"), "png", off)


def test_an_image_without_tesseract_is_refused_not_indexed_empty(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the worker finds no tesseract binary
    with pytest.raises(parse.DocumentRejected, match=r"OCR \(Tesseract\) is not installed"):
        parse.parse_document(encoded(Image.new("L", (50, 50), 255), "PNG"), "png")


@needs_ocr
def test_an_uploaded_photo_is_searchable_and_cited_as_ocr(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "notices", dense=False)
    result = sandbox.ingest(sandbox.admin_a, kb, {"通知.jpg": encoded(notice(), "JPEG")})
    assert result["indexed"] == 1, result
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "安全会议几点开？")
    assert hits and hits[0].filename == "通知.jpg" and "安全会议" in hits[0].text
    assert citations(hits)[0]["ocr"] is True


@needs_ocr
def test_a_scan_pasted_into_word_is_read_by_ocr() -> None:
    """Offices send a signed or stamped document as scans pasted into a Word file: it held no
    text to read, and was refused as empty. A Word file with next to no text and pictures in
    it has its pictures read by OCR, in reading order; a Word file with text of its own does
    not (its pictures are figures, and OCR is slow)."""
    import docx
    from docx.shared import Inches

    document = docx.Document()
    document.add_paragraph("扫描件")
    first = notice(["第一页：差旅报销须知"])
    second = notice(["第二页：住宿每晚不超过六百元"])
    for page in (first, second):
        document.add_picture(io.BytesIO(encoded(page, "PNG")), width=Inches(6))
    out = io.BytesIO()
    document.save(out)
    read = parse.parse_document(out.getvalue(), "docx")
    texts = [b.text.replace(" ", "") for b in read.blocks]
    assert texts[0] == "扫描件"
    assert texts[1:] == ["第一页:差旅报销须知", "第二页:住宿每晚不超过六百元"]
    assert all(b.meta.get("ocr") == "true" for b in read.blocks[1:])

    document.add_paragraph("本办法自发布之日起施行。" * 20)  # a document with text of its own
    out = io.BytesIO()
    document.save(out)
    assert not any(b.meta.get("ocr") for b in parse.parse_document(out.getvalue(), "docx").blocks)
