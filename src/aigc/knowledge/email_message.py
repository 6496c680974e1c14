"""An e-mail saved as a file (``.eml``, as Outlook, Thunderbird and webmail export one): its
subject as the title, who wrote to whom and when, the body, and the attachments the parsers read.

Python's own ``email`` package reads it (MIME parts, encoded headers such as
``=?gb2312?B?…?=``, each part's declared charset). A body sent as HTML only is read as a web
page (``web_page``). Attachments of a format ingested here are read in turn, each under its file
name as a heading (an attached e-mail or archive too, to ``parse.MAX_NESTED_CONTAINERS``
levels), and what is not read is noted by name.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, MIMEPart

from aigc.knowledge import failure_codes, note_codes
from aigc.knowledge.note_codes import Note
from aigc.knowledge.parse import Block, DocumentRejected, Limits, Parsed

MAX_ATTACHMENTS = 50


def read_email(data: bytes, limits: Limits) -> Parsed:
    """The message's blocks, and notes on the attachments left unread."""
    from aigc.knowledge import parse, web_page

    message = email.message_from_bytes(data, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not (message.keys() or message.get_payload()):
        raise DocumentRejected("The file is not an e-mail message", failure_codes.EMAIL_INVALID)
    subject = _subject(message)
    heading = [subject]
    blocks = [Block(subject, headings=heading, boundary=True)]
    sender = "\n".join(
        f"{name}: {' '.join(str(message[name]).split())}"
        for name in ("From", "To", "Cc", "Date")
        if message.get(name)
    )
    if sender:
        blocks.append(Block(sender, headings=heading))
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        text = _content(body)
        if body.get_content_subtype() == "html":
            blocks += [Block(b.text, headings=heading + b.headings) for b in web_page.blocks(text)]
        else:
            blocks += [Block(p, headings=heading) for p in parse.paragraphs(text)]
    notes: list[str] = []
    unread: list[str] = []
    for n, part in enumerate(message.iter_attachments()):
        forwarded = part.get_content_type() == "message/rfc822"
        name = part.get_filename() or (
            f"{_subject(part.get_content())}.eml" if forwarded else f"attachment {n + 1}"
        )
        if n >= MAX_ATTACHMENTS:
            unread.append(name)
            continue
        try:
            # the bytes as attached: each parser decodes them its own way
            raw = bytes(part.get_content()) if forwarded else part.get_payload(decode=True)
            data = raw if isinstance(raw, bytes) else b""
            fmt = "eml" if forwarded else parse.detect_format(name, data[: parse.SNIFF_BYTES])
            read = parse.parse_document(data, fmt, limits)
        except DocumentRejected:
            unread.append(name)
            continue
        filed, filed_notes = parse.filed_under(heading, name, read)  # pages: the attachment's
        blocks += filed
        notes += filed_notes
    if unread:
        notes.append(
            Note(
                f"attachments not read: {', '.join(unread[:20])}",
                note_codes.ATTACHMENTS_NOT_READ,
                names=unread[:20],
            )
        )
    return Parsed([b for b in blocks if b.text.strip()], notes)


def _subject(message: EmailMessage) -> str:
    return " ".join(str(message.get("subject", "")).split()) or "(no subject)"


def _content(part: MIMEPart) -> str:
    """A text part's content; a part whose declared charset is wrong or unknown is decoded
    as ingestion decodes any text file."""
    from aigc.infra import text_encoding

    try:
        content = part.get_content()
        return content if isinstance(content, str) else str(content)
    except (LookupError, UnicodeDecodeError):
        raw = part.get_payload(decode=True)
        return text_encoding.decode(raw if isinstance(raw, bytes) else b"").text
