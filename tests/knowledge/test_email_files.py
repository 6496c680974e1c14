"""E-mails saved as files (.eml): subject, sender and date, body, and readable attachments."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from aigc.knowledge import context, parse

from .conftest import Sandbox
from .test_office_structure import travel_policy_docx


def notice() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "关于调整差旅标准的通知"
    message["From"] = "人事部 <hr@example.com>"
    message["To"] = "全体员工 <all@example.com>"
    message["Date"] = "Mon, 04 Mar 2024 09:30:00 +0800"
    message.set_content(
        "各位同事：\n\n自4月1日起，一线城市住宿标准调整为每晚650元。\n\n详见附件。",
        charset="gb2312",
    )
    message.add_attachment(
        "城市,住宿标准\n北京,650\n上海,650\n".encode(),
        maintype="text",
        subtype="csv",
        filename="住宿标准.csv",
    )
    message.add_attachment(
        travel_policy_docx(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="差旅费管理办法.docx",
    )
    message.add_attachment(
        b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="setup.exe"
    )
    return message


def test_an_email_is_read_with_its_attachments() -> None:
    """.eml files were refused as an unsupported type."""
    data = notice().as_bytes(policy=SMTP)
    assert b"gb2312" in data  # the body as a Chinese mail client sends it
    parsed = parse.parse_document(data, parse.detect_format("通知.eml"))
    texts = [b.text for b in parsed.blocks]
    assert texts[0] == "关于调整差旅标准的通知"
    assert texts[1].startswith("From: 人事部 <hr@example.com>\nTo: 全体员工 <all@example.com>")
    assert "自4月1日起，一线城市住宿标准调整为每晚650元。" in texts
    row = next(b for b in parsed.blocks if b.text == "城市: 北京; 住宿标准: 650")
    assert row.headings == ["关于调整差旅标准的通知", "住宿标准.csv"]
    docx = [b for b in parsed.blocks if "差旅费管理办法.docx" in b.headings]
    assert any("伙食补助（元/天）: 75" in b.text for b in docx)
    assert parsed.notes == ["attachments not read: setup.exe"]
    assert context.document_title(parsed.blocks, "通知.eml") == "关于调整差旅标准的通知"


def test_an_html_only_email_is_read_as_a_page_with_a_forwarded_mail() -> None:
    message = EmailMessage()
    message["Subject"] = "Quarterly all-hands"
    message.set_content("<p>The all-hands is on <b>Friday</b> at 3 pm.</p>", subtype="html")
    inner = EmailMessage()
    inner["Subject"] = "Room booking"
    inner.set_content("Room 5B is booked from 2 pm.")
    message.add_attachment(inner)
    blocks = parse.parse_document(bytes(message), "eml").blocks
    assert "The all-hands is on Friday at 3 pm." in [b.text for b in blocks]
    booked = next(b for b in blocks if b.text == "Room 5B is booked from 2 pm.")
    assert booked.headings[0] == "Quarterly all-hands" and booked.headings[-1] == "Room booking"


def test_a_file_that_is_no_email_is_refused() -> None:
    with pytest.raises(parse.DocumentRejected, match="not an e-mail"):
        parse.parse_document(b"", "eml")


def test_an_ingested_email_answers_from_its_attachment(sandbox: Sandbox) -> None:
    from aigc.knowledge.retrieve import search

    kb = sandbox.kb(sandbox.admin_a, "mail", dense=False)
    assert sandbox.ingest(sandbox.admin_a, kb, {"通知.eml": bytes(notice())})["indexed"] == 1
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "海口伙食补助每天多少")
    assert "城市: 海口" in hits[0].text
    assert hits[0].headings[:2] == ["关于调整差旅标准的通知", "差旅费管理办法.docx"]
