"""Tenant files (the OpenAI Files API) as plain functions over a session.

A file lives at ``data_dir/files/<tenant_id>/<file_id>``: the on-disk name is always the id we
made, never anything the caller sent, so no upload can choose where it lands. The caller's
filename is kept for display only, cleaned of path parts and control characters.

Every lookup filters by the caller's tenant here: another tenant's file is "not found", exactly
as if it did not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal, require_role
from aigc.errors import InvalidRequest, NotFound, PayloadTooLarge
from aigc.infra.schema import FileRecord, new_id, unix_time

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
        raise InvalidRequest(
            f"Invalid purpose '{purpose}'; purposes are {', '.join(PURPOSES)}", param="purpose"
        )
    return purpose


def tenant_dir(data_dir: Path, tenant_id: str) -> Path:
    return Path(data_dir) / "files" / tenant_id


def file_path(data_dir: Path, record: FileRecord) -> Path:
    return tenant_dir(data_dir, record.tenant_id) / record.id


def save_upload(
    session: Session,
    data_dir: Path,
    principal: Principal,
    filename: str | None,
    purpose: str,
    chunks: Iterable[bytes],
    max_bytes: int,
) -> FileRecord:
    """Stream ``chunks`` to disk, hashing and counting as they come, then record the file.

    The bytes go to a temporary file in the tenant's folder first and are renamed into place
    only once complete and within the limit, so a failure leaves nothing half-written behind.
    ``chunks`` is synchronous: the route runs this in a worker thread (the session is sync).
    """
    require_role(principal, "member")
    check_purpose(purpose)
    folder = tenant_dir(data_dir, principal.tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidRequest("The file is empty", param="file")
        record = FileRecord(
            id=new_id("file-"),
            tenant_id=principal.tenant_id,
            filename=clean_filename(filename),
            purpose=purpose,
            bytes=size,
            sha256=digest.hexdigest(),
        )
        final = file_path(data_dir, record)
        tmp.replace(final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        session.add(record)
        session.flush()
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return record


def list_files(
    session: Session, principal: Principal, purpose: str | None = None
) -> list[FileRecord]:
    """The caller's files, newest first."""
    require_role(principal, "viewer")
    query = select(FileRecord).where(FileRecord.tenant_id == principal.tenant_id)
    if purpose is not None:
        query = query.where(FileRecord.purpose == check_purpose(purpose))
    return list(session.scalars(query.order_by(FileRecord.created_at.desc(), FileRecord.id)))


def get_file(session: Session, principal: Principal, file_id: str) -> FileRecord:
    require_role(principal, "viewer")
    record = session.get(FileRecord, file_id)
    if record is None or record.tenant_id != principal.tenant_id:
        raise NotFound(f"No such File object: {file_id}", param="file_id")
    return record


def delete_file(session: Session, data_dir: Path, principal: Principal, file_id: str) -> None:
    """Remove the row, then the bytes.

    Should the caller's commit fail afterwards, the row survives without its bytes; content
    then answers 404, which is better than bytes on disk that nothing points to.
    """
    require_role(principal, "member")
    record = get_file(session, principal, file_id)
    path = file_path(data_dir, record)
    session.delete(record)
    session.flush()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


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
