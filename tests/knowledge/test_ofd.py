"""OFD (GB/T 33190), the format of China's e-invoices and official documents: refused as an
unsupported file type. An e-invoice keeps its printed labels in a template page and the
values in the page; both are read, in lines as the page shows them."""

from __future__ import annotations

import io
import zipfile

import pytest

from aigc.knowledge.parse import DocumentRejected, detect_format, parse

from .conftest import Sandbox

OFD = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def _text(x: float, y: float, text: str, size: float = 3.5) -> str:
    """A text object at (x, y) mm, its one text code at the object's origin line."""
    return (
        f'<ofd:TextObject ID="1" Boundary="{x} {y} 80 {size * 1.5}" Font="1" Size="{size}">'
        f'<ofd:TextCode X="0" Y="{size}">{text}</ofd:TextCode></ofd:TextObject>'
    )


def e_invoice() -> bytes:
    labels = (  # the template: what every invoice prints
        _text(70, 10, "电子发票（普通发票）", 6)
        + _text(10, 30, "购买方名称：")
        + _text(10, 40, "项目名称")
        + _text(90, 40, "金额")
        + _text(10, 80, "备注：")
    )
    values = (  # this invoice's values, on the labels' lines
        _text(40, 30, "上海某某科技有限公司")
        + _text(10, 48, "*信息技术服务*软件开发服务")
        + _text(90, 48, "¥1,280.00")
        + _text(30, 80, "项目编号 HT-2024-018")
    )
    page = (
        f'<ofd:Page {OFD}><ofd:Template TemplateID="2"/><ofd:Content><ofd:Layer ID="3">'
        f"{values}</ofd:Layer></ofd:Content></ofd:Page>"
    )
    template = (
        f'<ofd:Page {OFD}><ofd:Content><ofd:Layer ID="4">{labels}</ofd:Layer></ofd:Content>'
        "</ofd:Page>"
    )
    document = (
        f"<ofd:Document {OFD}><ofd:CommonData>"
        '<ofd:TemplatePage ID="2" BaseLoc="Tpls/Tpl_0/Content.xml"/></ofd:CommonData>'
        '<ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages>'
        "</ofd:Document>"
    )
    root = (
        f'<ofd:OFD {OFD} Version="1.0" DocType="OFD"><ofd:DocBody>'
        "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", root)
        archive.writestr("Doc_0/Document.xml", document)
        archive.writestr("Doc_0/Pages/Page_0/Content.xml", page)
        archive.writestr("Doc_0/Tpls/Tpl_0/Content.xml", template)
    return out.getvalue()


def test_an_ofd_e_invoice_is_read_as_its_page_shows_it(sandbox: Sandbox) -> None:
    assert detect_format("发票.OFD") == "ofd"
    blocks = parse(e_invoice(), "ofd")
    assert [(b.text, b.page) for b in blocks] == [
        ("电子发票（普通发票）", 1),
        ("购买方名称： 上海某某科技有限公司", 1),  # a label and its value, a gap between
        ("项目名称 金额\n*信息技术服务*软件开发服务 ¥1,280.00", 1),  # a table's lines
        ("备注： 项目编号 HT-2024-018", 1),
    ]
    kb = sandbox.kb(sandbox.admin_a, "invoices", dense=False)
    assert sandbox.ingest(sandbox.admin_a, kb, {"发票.ofd": e_invoice()})["indexed"] == 1


def test_a_broken_ofd_is_refused_with_the_reason() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "OFD.xml",
            f"<ofd:OFD {OFD}><ofd:DocBody><ofd:DocRoot>Doc_0/D.xml"
            "</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        )
    with pytest.raises(DocumentRejected, match="Not a valid OFD file: the archive lacks Doc_0/D"):
        parse(out.getvalue(), "ofd")
