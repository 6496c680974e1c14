"""A zipped folder of documents is read file by file, as one document of the knowledge base."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from aigc.knowledge import parse

from .conftest import Sandbox
from .test_office_structure import travel_policy_docx


class _GbkName(zipfile.ZipInfo):
    """A member name as Windows' built-in zip writes a Chinese one: GBK bytes, no UTF-8 flag."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # zipfile's own (private) hook
        return self.filename.encode("gbk"), self.flag_bits


def zipped(files: dict[str, bytes], utf8_names: bool = True) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name) if utf8_names else _GbkName(name)
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


FOLDER = {
    "制度/差旅费管理办法.docx": travel_policy_docx(),
    "制度/加班规定.txt": "加班须经部门经理批准，加班费按小时工资的1.5倍计算。".encode("gbk"),
    "制度/.DS_Store": b"\\x00\\x00\\x00\\x01Bud1",
    "__MACOSX/制度/._加班规定.txt": b"\\x00\\x05\\x16\\x07",
    "工具/setup.exe": b"MZ\\x90\\x00",
}


@pytest.mark.parametrize("utf8_names", [True, False])
def test_a_zipped_folder_is_read_file_by_file(utf8_names: bool) -> None:
    """.zip files were refused; a Windows zip's Chinese names would read as code page 437."""
    parsed = parse.parse_document(zipped(FOLDER, utf8_names), parse.detect_format("制度.zip"))
    rule = next(b for b in parsed.blocks if b.text.startswith("加班须经部门经理批准"))
    assert rule.headings == ["制度/加班规定.txt"]
    row = next(b for b in parsed.blocks if "城市: 海口" in b.text)
    assert row.headings[0] == "制度/差旅费管理办法.docx"
    assert parsed.notes == [
        "制度/加班规定.txt: read as gb18030 text (the file is not UTF-8)",
        "files not read: 工具/setup.exe",
    ]


def test_archives_are_checked_and_nesting_is_bounded() -> None:
    with pytest.raises(parse.DocumentRejected, match="holds no file that could be read"):
        parse.parse_document(zipped({"a.exe": b"MZ"}), "zip")
    bomb = zipped({"zeros.txt": b"0" * (20 * 1024 * 1024)})
    with pytest.raises(parse.DocumentRejected, match="zip bomb"):
        parse.parse_document(bomb, "zip")
    # a zip in an e-mail in a zip: the third level is not opened
    mail = EmailMessage()
    mail["Subject"] = "归档"
    mail.set_content("见附件。")
    mail.add_attachment(
        zipped({"deep.txt": b"deep text"}), maintype="application", subtype="zip", filename="x.zip"
    )
    outer = parse.parse_document(zipped({"mail.eml": bytes(mail)}), "zip")
    assert "见附件。" in [b.text for b in outer.blocks]
    assert "deep text" not in "\\n".join(b.text for b in outer.blocks)
    assert "mail.eml: attachments not read: x.zip" in outer.notes


def test_an_ingested_archive_cites_the_file_inside(sandbox: Sandbox) -> None:
    from aigc.knowledge.retrieve import search

    kb = sandbox.kb(sandbox.admin_a, "folder", dense=False)
    assert sandbox.ingest(sandbox.admin_a, kb, {"制度.zip": zipped(FOLDER, False)})["indexed"] == 1
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "加班费怎么算")
    assert hits[0].filename == "制度.zip" and hits[0].headings == ["制度/加班规定.txt"]


def test_an_exported_xls_inside_an_archive_is_read_as_what_it_is() -> None:
    """A .xls that a system exported as an HTML table, zipped with the month's files: known
    by its first bytes, as an upload is; a damaged workbook beside it is noted unread."""
    page = "<table><tr><th>姓名</th><th>金额</th></tr><tr><td>张三</td><td>320</td></tr></table>"
    damaged = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512  # OLE2, nothing inside
    read = parse.parse_document(zipped({"报销明细.xls": page.encode(), "旧表.xls": damaged}), "zip")
    assert "姓名: 张三; 金额: 320" in [b.text for b in read.blocks]
    assert read.notes == ["files not read: 旧表.xls"]


def test_each_file_in_an_archive_is_headed_by_its_own_title_and_period(sandbox: Sandbox) -> None:
    """Every chunk of an archive was headed, indexed and cited with its *first* file's title
    and period: the fourth quarter's report inside 经营报告.zip said 2023年第二季度."""
    from aigc.knowledge.retrieve import search
    from aigc.knowledge.tables import KbChunk, KbDocument

    reports = {
        "Q2.txt": "2023年第二季度经营报告\n\n本季度营业收入为12亿元，同比增长5%。".encode(),
        "Q4.txt": "2023年第四季度经营报告\n\n本季度营业收入为15亿元，同比增长9%。".encode(),
    }
    kb = sandbox.kb(sandbox.admin_a, "reports", dense=False)
    assert sandbox.ingest(sandbox.admin_a, kb, {"经营报告.zip": zipped(reports)})["indexed"] == 1
    with sandbox.db.session() as s:
        document = s.query(KbDocument).filter_by(kb_id=kb).one()
        assert (document.title, document.period) == ("经营报告", None)  # not the first file's
        contexts = {c.headings[0]: c.context for c in s.query(KbChunk).filter_by(kb_id=kb)}
        assert "2023年第四季度" in contexts["Q4.txt"] and "第二季度" not in contexts["Q4.txt"]
        assert "2023年第二季度" in contexts["Q2.txt"]
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "2023年第四季度营业收入")
    best = hits[0]
    assert best.headings == ["Q4.txt"] and "15亿元" in best.text
    assert (best.filename, best.title, best.period) == (
        "经营报告.zip",
        "2023年第四季度经营报告",
        "2023年第四季度",
    )
