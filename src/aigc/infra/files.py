"""Tenant files (the OpenAI Files API) as plain functions over a session and a blob store.

A file's bytes live in the blob store (``infra.storage``) under ``files/<tenant_id>/<file_id>``
(with the default directory store: ``data_dir/files/...``, the layout from before the store):
the key is always the id we made, never anything the caller sent, so no upload can choose
where it lands. The caller's filename is kept for display only, cleaned of path parts and
control characters. Every instance on the same database and store finds every file.

Every lookup filters by the caller's tenant here: another tenant's file is "not found", exactly
as if it did not exist.
"""

from __future__ import annotations

import hashlib
import operator
import os
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from aigc.access import Principal, require_role
from aigc.errors import NotFound, PayloadTooLarge, refused, refused_value
from aigc.infra import untrusted
from aigc.infra.cursor_pages import Order
from aigc.infra.schema import FileRecord, new_id, unix_time
from aigc.infra.storage import BlobStore, DirectoryStore

Purpose = Literal["fine-tune", "assistants", "batch", "user_data", "knowledge", "training"]
PURPOSES: tuple[str, ...] = get_args(Purpose)
MAX_FILENAME = 255  # the column's width


def clean_filename(name: str | None) -> str:
    """The display name: last path component only, no control/format characters, never empty."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in ("", ".", ".."):
        return "upload"
    return name[:MAX_FILENAME]


def check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise refused_value(
            "literal_error",
            "Invalid purpose '{value}'; purposes are {expected}",
            param="purpose",
            value=str(untrusted.field(purpose, 40)),
            expected=", ".join(PURPOSES),
        )
    return purpose


def tenant_dir(data_dir: Path, tenant_id: str) -> Path:
    return Path(data_dir) / "files" / tenant_id


def file_path(data_dir: Path, record: FileRecord) -> Path:
    """Where the directory store rooted at ``data_dir`` keeps the file."""
    return tenant_dir(data_dir, record.tenant_id) / record.id


def file_key(record: FileRecord) -> str:
    """The file's key in the blob store."""
    return f"files/{record.tenant_id}/{record.id}"


def as_store(where: BlobStore | Path) -> BlobStore:
    """A store; a bare folder means the directory store rooted there (the embedded layout)."""
    return where if isinstance(where, BlobStore) else DirectoryStore(Path(where))


def staging_file(store: BlobStore, key: str) -> tuple[int, Path]:
    """A temporary file for an upload on its way to ``key``: beside its final place with a
    directory store (so it is renamed in, not copied), else in the system's temp folder."""
    own = store.local_path(key)
    folder = own.parent if own is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    return fd, Path(name)


def save_upload(
    session: Session,
    where: BlobStore | Path,
    principal: Principal,
    filename: str | None,
    purpose: str,
    chunks: Iterable[bytes],
    max_bytes: int,
) -> FileRecord:
    """Stream ``chunks`` to a temporary file, hashing and counting as they come, then put it in
    the store and record it.

    The bytes reach the store only once complete and within the limit (renamed into place by
    a directory store, uploaded by S3), so a failure leaves nothing half-written behind.
    ``chunks`` is synchronous: the route runs this in a worker thread (the session is sync).
    """
    require_role(principal, "member")
    check_purpose(purpose)
    store = as_store(where)
    file_id = new_id("file-")
    key = f"files/{principal.tenant_id}/{file_id}"
    fd, tmp = staging_file(store, key)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise refused(
                        PayloadTooLarge,
                        "file_over_limit",
                        "The file is larger than the limit of {max_bytes} bytes",
                        max_bytes=max_bytes,
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise refused_value("empty_file", "The file is empty", param="file", code="empty_file")
        record = FileRecord(
            id=file_id,
            tenant_id=principal.tenant_id,
            filename=clean_filename(filename),
            purpose=purpose,
            bytes=size,
            sha256=digest.hexdigest(),
        )
        store.put_file(key, tmp, move=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        session.add(record)
        session.flush()
    except BaseException:
        store.delete(key)
        raise
    return record


MAX_PAGE = 10_000  # OpenAI's largest (and default) page of files


@dataclass(frozen=True)
class FilePage:
    """One page of the caller's files, and whether more follow it in the same order."""

    records: list[FileRecord]
    has_more: bool


def list_files(
    session: Session,
    principal: Principal,
    purpose: str | None = None,
    limit: int = MAX_PAGE,
    order: Order = "desc",
    after: str | None = None,
) -> FilePage:
    """A page of the caller's files by ``created_at`` then ``id`` (newest first by default),
    those after the file ``after`` when given: the database picks the page, so a long list is
    never read whole, and files made in the same instant keep one order across pages.

    An ``after`` that is none of the caller's files is a 400: a cursor that matched nothing
    would answer as an empty, finished list."""
    require_role(principal, "viewer")
    if not 1 <= limit <= MAX_PAGE:
        raise refused_value(
            "param_int_range",
            "'limit' is from {low} to {high}",
            param="limit",
            low=1,
            high=MAX_PAGE,
        )
    if order not in ("asc", "desc"):
        raise refused_value(
            "literal_error", "'order' is asc or desc", param="order", expected="asc, desc"
        )
    mine = FileRecord.tenant_id == principal.tenant_id
    query = select(FileRecord).where(mine)
    if purpose is not None:
        query = query.where(FileRecord.purpose == check_purpose(purpose))
    if after is not None:
        cursor = session.execute(
            select(FileRecord.created_at, FileRecord.id).where(mine, FileRecord.id == after)
        ).first()
        if cursor is None:
            raise refused_value(
                "cursor_unknown",
                "'after' names no file of yours: {after}",
                param="after",
                after=str(untrusted.field(after)),
            )
        at, cursor_id = cursor
        past = operator.lt if order == "desc" else operator.gt  # beyond the cursor, in order
        query = query.where(
            or_(
                past(FileRecord.created_at, at),
                and_(FileRecord.created_at == at, past(FileRecord.id, cursor_id)),
            )
        )
    keys = (FileRecord.created_at, FileRecord.id)
    ordered = query.order_by(*(k.desc() if order == "desc" else k.asc() for k in keys))
    rows = list(session.scalars(ordered.limit(limit + 1)))
    return FilePage(rows[:limit], len(rows) > limit)


def no_file(file_id: str) -> NotFound:
    """OpenAI's 404 for a file id, the same for another organization's file as for none."""
    return refused(
        NotFound,
        "file_not_found",
        "No such File object: {id}",
        param="file_id",
        id=untrusted.field(file_id),
    )


def get_file(session: Session, principal: Principal, file_id: str) -> FileRecord:
    require_role(principal, "viewer")
    record = session.get(FileRecord, file_id)
    if record is None or record.tenant_id != principal.tenant_id:
        raise no_file(file_id)
    return record


def delete_file(
    session: Session, where: BlobStore | Path, principal: Principal, file_id: str
) -> None:
    """Remove the row, then the bytes.

    Should the caller's commit fail afterwards, the row survives without its bytes; content
    then answers 404, which is better than bytes on disk that nothing points to.
    """
    require_role(principal, "member")
    record = get_file(session, principal, file_id)
    key = file_key(record)
    session.delete(record)
    session.flush()
    as_store(where).delete(key)


def file_view(record: FileRecord) -> dict[str, Any]:
    """OpenAI's FileObject."""
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": unix_time(record.created_at),
        "filename": record.filename,
        "purpose": record.purpose,
        "status": "processed",
        "status_details": None,
    }
