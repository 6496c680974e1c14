"""Text files in the encodings companies save them in are read as what they say (not refused,
not turned into fluent-looking nonsense), and a non-UTF-8 reading is noted."""

from __future__ import annotations

import codecs
import os

import pytest

from aigc.infra import text_encoding
from aigc.knowledge import parse

SIMPLIFIED = (
    "员工手册\n\n第三章 休假制度\n员工每年享有十天带薪年假，入职满一年后可以申请。"
    "年假应当在人事系统中"
    "提前三个工作日提交，由直属主管审批。未休完的年假可以顺延至次年三月底，逾期作废。\n\n"
    "第四章 薪酬发放\n工资于每月十日发放至员工本人的银行账户，遇节假日提前至最近的工作日。"
)
TRADITIONAL = (
    "員工手冊\n\n第三章 休假制度\n員工每年享有十天帶薪年假，到職滿一年後可以申請。"
    "年假應當在人事系統中"
    "提前三個工作日提交，由直屬主管審批。未休完的年假可以順延至次年三月底，逾期作廢。\n\n"
    "第四章 薪資發放\n薪資於每月十日發放至員工本人的銀行帳戶，遇國定假日提前至最近的工作日。"
)
JAPANESE = (
    "社員就業規則\n\n第三章 休暇\n社員は毎年十日間の有給休暇を取得することができます。"
    "申請は人事システムで"
    "三営業日前までに行い、上長の承認を受けてください。未消化の休暇は翌年三月末まで繰り越せます。"
)
KOREAN = (
    "직원 안내서\n\n제3장 휴가\n직원은 매년 10일의 유급 휴가를 받습니다. "
    "휴가는 인사 시스템에서 사흘 전까지 "
    "신청하고 팀장의 승인을 받아야 합니다. 사용하지 않은 휴가는 다음 해 3월 말까지 이월됩니다."
)
FRENCH = (
    "Règlement intérieur\n\nChapitre trois : congés\nLes employés reçoivent dix jours de congés "
    "payés par année. La demande se fait très simplement dans le système des ressources "
    "humaines, trois jours ouvrés à l'avance ; où qu'il travaille, le salarié obtient l'accord "
    "de son supérieur. Les congés non pris sont reportés jusqu'à fin mars."
)
# A source file with Chinese comments: mostly ASCII, a few GBK characters.
GBK_CODE = (
    "def monthly_pay(salary: float, days_worked: int) -> float:\n"
    "    # 按出勤天数折算当月工资，每月按二十一点七五天计算\n"
    "    return round(salary * days_worked / 21.75, 2)\n\n"
    "def overtime(hours: float) -> float:\n"
    "    return hours * 1.5\n"
)


@pytest.mark.parametrize(
    ("text", "codec", "named"),
    [
        (SIMPLIFIED, "gbk", "gb18030"),
        (SIMPLIFIED, "gb18030", "gb18030"),
        (TRADITIONAL, "big5", "big5"),
        (JAPANESE, "shift_jis", "cp932"),
        (KOREAN, "euc_kr", "cp949"),
        (FRENCH, "cp1252", "cp1252"),
        (GBK_CODE, "gbk", "gb18030"),
    ],
)
def test_a_legacy_encoding_is_recognised_and_named(text: str, codec: str, named: str) -> None:
    decoded = text_encoding.decode(text.encode(codec))
    assert decoded.text == text
    assert decoded.encoding == named
    assert decoded.note() == f"read as {named} text (the file is not UTF-8)"


def test_big5_is_not_read_as_gb18030() -> None:
    """GB18030 decodes Big5's bytes without an error, into other characters: the old rule
    ("UTF-8, else GB18030") stored such a file as nonsense."""
    data = TRADITIONAL.encode("big5")
    assert data.decode("gb18030") != TRADITIONAL  # the trap
    assert text_encoding.decode(data).text == TRADITIONAL


@pytest.mark.parametrize("bom", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_exports_with_a_byte_order_mark(bom: str) -> None:
    """Notepad's and Excel's "Unicode" saves are UTF-16 with a byte order mark."""
    mark = {"utf-16": b"", "utf-16-be": codecs.BOM_UTF16_BE, "utf-32": b""}[bom]
    decoded = text_encoding.decode(mark + SIMPLIFIED.encode(bom))
    assert decoded.text == SIMPLIFIED
    assert decoded.encoding.startswith("utf-")


def test_utf8_with_and_without_a_byte_order_mark_has_no_note() -> None:
    for data in (SIMPLIFIED.encode(), codecs.BOM_UTF8 + SIMPLIFIED.encode()):
        decoded = text_encoding.decode(data)
        assert (decoded.text, decoded.encoding, decoded.note()) == (SIMPLIFIED, "utf-8", None)


def test_a_utf8_file_with_a_broken_byte_stays_utf8_and_says_so() -> None:
    """One stray byte used to refuse the whole file (or read it all as GB18030)."""
    data = SIMPLIFIED.encode()
    damaged = data[:30] + b"\xff" + data[30:]
    decoded = text_encoding.decode(damaged)
    assert decoded.encoding == "utf-8" and decoded.replaced == 1
    assert decoded.text.replace("\ufffd", "") == SIMPLIFIED
    assert "1 byte sequence(s) that are not valid UTF-8" in (decoded.note() or "")


def test_binary_data_is_refused_with_what_to_do() -> None:
    with pytest.raises(text_encoding.UndecodableText, match="save it as UTF-8"):
        text_encoding.decode(os.urandom(4096))


def test_parsed_text_formats_carry_the_encoding_note() -> None:
    parsed = parse.parse_document(TRADITIONAL.encode("big5"), "txt")
    assert parsed.notes == ["read as big5 text (the file is not UTF-8)"]
    assert parsed.blocks[0].text == "員工手冊"
    csv_text = "部門,假別,天數\n人事部,帶薪年假,十天\n財務部,帶薪年假,十二天\n" * 8
    rows = parse.parse_document(csv_text.encode("big5"), "csv")
    assert rows.blocks[0].text == "部門: 人事部; 假別: 帶薪年假; 天數: 十天"
    assert parse.parse_document(SIMPLIFIED.encode(), "md").notes == []
    with pytest.raises(parse.DocumentRejected, match="encoding"):
        parse.parse_document(os.urandom(4096), "txt")


@pytest.mark.parametrize(
    ("text", "codec", "label", "read_as"),
    [
        ("請假須知", "big5", "big5", "big5hkscs"),  # detected alone: half-width katakana
        ("公司簡介", "gbk", "GB2312", "gb18030"),  # detected alone: Korean
        ("就業規則", "shift_jis", "Shift_JIS", "cp932"),  # detected alone: Korean
        ("Привет мир", "cp1251", "windows-1251", "cp1251"),  # detected alone: Central European
    ],
)
def test_a_declared_encoding_reads_text_too_short_to_detect(
    text: str, codec: str, label: str, read_as: str
) -> None:
    data = text.encode(codec)
    assert text_encoding.decode(data).text != text  # why the sender's word is worth having
    decoded = text_encoding.decode(data, declared=label)
    assert (decoded.text, decoded.encoding, decoded.declared) == (text, read_as, True)
    assert decoded.note() is None  # declared, not guessed: nothing to warn about


def test_valid_utf8_or_an_encoding_that_does_not_fit_outranks_a_wrong_label() -> None:
    """A template's stale <meta charset="gbk">, a server's default charset=iso-8859-1, a
    label the bytes are not in: the label is ignored."""
    assert text_encoding.decode(SIMPLIFIED.encode(), declared="gbk").text == SIMPLIFIED
    assert text_encoding.decode(FRENCH.encode(), declared="iso-8859-1").encoding == "utf-8"
    latin = text_encoding.decode("“Maß” – 5 €".encode("cp1252"), declared="iso-8859-1")
    assert (latin.text, latin.encoding) == ("“Maß” – 5 €", "cp1252")  # as browsers read it
    wrong = text_encoding.decode(TRADITIONAL.encode("big5"), declared="euc-jp")
    assert (wrong.text, wrong.encoding, wrong.declared) == (TRADITIONAL, "big5", False)
    unknown = text_encoding.decode(TRADITIONAL.encode("big5"), declared="x-no-such-label")
    assert unknown.text == TRADITIONAL


def test_html_pages_are_read_in_the_encoding_they_declare_or_else_detected() -> None:
    """bs4 guessed an undeclared page's encoding by itself (a French page came out as
    'employķs') and trusted a stale <meta charset> over text that is UTF-8."""
    declared = b'<html><head><meta charset="big5"></head><body><h1>'
    page = declared + "請假須知</h1><p>公司簡介</p></body></html>".encode("big5")
    assert [b.text for b in parse.parse(page, "html")] == ["請假須知", "公司簡介"]
    undeclared = f"<html><body><p>{FRENCH}</p></body></html>".encode("cp1252")
    parsed = parse.parse_document(undeclared, "html")
    assert FRENCH.split("\n")[0] in parsed.blocks[0].text
    assert parsed.notes == ["read as cp1252 text (the file is not UTF-8)"]
    stale = f'<html><head><meta charset="gbk"></head><body><p>{SIMPLIFIED}</p></body></html>'
    assert "带薪年假" in parse.parse(stale.encode(), "html")[0].text
