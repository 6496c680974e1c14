"""A PDF form filled on screen keeps its values in the fields' widgets, not in the page's
text: a filled application read as its empty template (or, with no printed text at all, was
refused as having none). The filled fields are read after the page's text."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    TextStringObject,
)

from aigc.knowledge.parse import parse


def _field(writer: PdfWriter, page: Any, y: int, kind: str, name: str, **entries: Any) -> Any:
    """A widget annotation that is also its form field (as form tools write a simple field)."""
    field = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject(kind),
            NameObject("/T"): TextStringObject(name),
            NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (100, y, 300, y + 20)]),
            NameObject("/P"): page.indirect_reference,
        }
    )
    for key, value in entries.items():
        field[NameObject(f"/{key}")] = value
    return writer._add_object(field)


def filled_form() -> bytes:
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    text = TextStringObject
    fields = [
        _field(writer, page, 700, "/Tx", "applicant", V=text("张三"), TU=text("申请人姓名")),
        _field(writer, page, 670, "/Tx", "Text1", V=text("销售部")),  # a tool's default name
        _field(writer, page, 640, "/Btn", "agree", V=NameObject("/Yes"), AS=NameObject("/Yes")),
        _field(
            writer, page, 610, "/Btn", "Check Box2", V=NameObject("/Off"), AS=NameObject("/Off")
        ),
        _field(writer, page, 580, "/Tx", "notes", V=text(""), TU=text("备注")),  # left empty
        _field(writer, page, 550, "/Ch", "form1[0].city[0]", V=text("上海"), Opt=ArrayObject()),
        _field(writer, page, 520, "/Btn", "submit", Ff=FloatObject(65536)),  # a push button
    ]
    page[NameObject("/Annots")] = ArrayObject(fields)
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {
            NameObject("/Fields"): ArrayObject(fields),
            NameObject("/NeedAppearances"): BooleanObject(True),
        }
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_values_filled_in_on_a_pdf_form_are_read() -> None:
    blocks = parse(filled_form(), "pdf")
    assert [(b.text, b.page) for b in blocks] == [
        ("申请人姓名: 张三\n销售部\nagree: ✓\ncity: 上海", 1)
    ]
