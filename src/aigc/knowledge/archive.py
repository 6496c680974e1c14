"""A zip archive of documents, as people send a folder: every file of a format read here, each
under its path in the archive as a heading. The archive is one document of the knowledge base
(cited as the archive, with the file's path as the section and the file's own title and
period: ``context.file_contexts``).

The archive is checked as Office files are (``parse.check_zip``: member count, expansion ratio,
total size, paths that escape it) before anything is read. Names are decoded as the archiver
wrote them: Windows' built-in zip and most Chinese tools write GBK names without the UTF-8 flag,
which Python would read as code page 437. Archives and e-mails inside are opened to
``parse.MAX_NESTED_CONTAINERS`` levels; hidden files and macOS resource forks are skipped; what
cannot be read is noted by name.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from aigc.knowledge import failure_codes, note_codes
from aigc.knowledge.note_codes import Note
from aigc.knowledge.parse import Block, DocumentRejected, Limits, Parsed

MAX_FILES = 200  # files read from one archive; the rest are noted


def read_zip(data: bytes, limits: Limits) -> Parsed:
    """The blocks of the archive's readable files, and notes on the files left unread."""
    from aigc.knowledge import parse

    parse.check_zip(data, limits, "ZIP")
    blocks: list[Block] = []
    notes: list[str] = []
    unread: list[str] = []
    read_count = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = member_name(info)
            base = PurePosixPath(name).name
            if info.is_dir() or not base or base.startswith(".") or "__MACOSX" in name:
                continue
            if read_count >= MAX_FILES:
                unread.append(name)
                continue
            try:
                head = None  # a .doc or .xls is known by its first bytes; others by name
                if parse.needs_content(base):
                    with archive.open(info) as member:
                        head = member.read(parse.SNIFF_BYTES)
                fmt = parse.detect_format(base, head)
                found = parse.parse_document(archive.read(info), fmt, limits)
            except (DocumentRejected, RuntimeError, zipfile.BadZipFile):
                # RuntimeError: a member encrypted with a password
                unread.append(name)
                continue
            read_count += 1
            filed, filed_notes = parse.filed_under([], name, found)
            blocks += filed
            notes += filed_notes
    if unread:
        more = f" and {len(unread) - 20} more" if len(unread) > 20 else ""
        notes.append(
            Note(
                f"files not read: {', '.join(unread[:20])}{more}",
                note_codes.FILES_NOT_READ,
                names=unread[:20],
                more=max(0, len(unread) - 20),
            )
        )
    if not blocks:
        raise DocumentRejected(
            "The archive holds no file that could be read"
            + (f" ({', '.join(unread[:5])})" if unread else ""),
            failure_codes.ARCHIVE_NOTHING_READABLE,
        )
    return Parsed(blocks, notes)


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its archiver meant it: UTF-8 when flagged so, else the bytes read
    as UTF-8 or, failing that, GB18030 (Windows in China), else as Python read them."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return info.filename
