"""``aigc backup`` / ``aigc restore`` for the embedded default: SQLite plus the data directory.

The database is copied with SQLite's online backup API, which yields a consistent snapshot
while the server keeps writing (WAL). The archive holds the data directory under ``data/``
and a ``manifest.json`` with every file's size and SHA-256; restore checks all of it in a
staging directory before the target is touched, then swaps the staged copy into place.

The archive contains the server secret and key hashes: it is created readable by its owner
only. PostgreSQL deployments back up with pg_dump instead.

With the default blob store (a directory: the data directory itself) the archive holds every
uploaded file, document source, trained model and image. A store elsewhere (``storage_dir``
outside the data directory, or S3) is backed up by the operator (docs/storage.md); the
backup says so in its log. ``data_dir/cache`` is left out: it holds copies only.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy.engine import make_url

from aigc import __version__
from aigc.config import Settings

logger = logging.getLogger("aigc.backup")

FORMAT_VERSION = 1
DB_NAME = "aigc.db"
MANIFEST = "manifest.json"
_DATA = "data"
_DB_COMPANIONS = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}
_TEMP_SUFFIXES = (".tmp", ".part", ".partial")
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


class BackupError(ValueError):
    """A backup or restore that must not go ahead; the message says why."""


def _sqlite_path(settings: Settings) -> Path:
    """The database file, which must be the default ``data_dir/aigc.db``."""
    if not settings.is_sqlite:
        raise BackupError(
            "aigc backup covers the embedded SQLite database only; for PostgreSQL use "
            "pg_dump/pg_restore and copy the data directory alongside"
        )
    expected = (settings.data_dir / DB_NAME).resolve()
    database = make_url(settings.db_url).database
    if not database or database == ":memory:" or Path(database).resolve() != expected:
        raise BackupError(f"backup expects the SQLite database at {expected}")
    return expected


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def backup(settings: Settings, dest: Path) -> Path:
    """Write a consistent ``.tar.gz`` of the database and data directory; return its path.

    ``dest`` is either the archive's file name or an existing directory to put it in.
    """
    db_path = _sqlite_path(settings)
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}")
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"aigc-backup-{_timestamp()}.tar.gz"
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    _warn_if_store_elsewhere(settings)
    cache = settings.data_dir.resolve() / "cache"
    with tempfile.TemporaryDirectory(prefix=".aigc-backup-", dir=dest.parent) as work:
        snapshot = Path(work) / DB_NAME
        _copy_database(db_path, snapshot)
        partial = Path(work) / "archive.tar.gz"
        entries: list[dict[str, Any]] = []
        with (
            _private_file(partial) as raw,
            tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar,
        ):
            entries.append(_add_file(tar, snapshot, DB_NAME))
            skip = {dest, Path(work), cache}
            for path, rel in _data_files(settings.data_dir.resolve(), skip=skip):
                try:
                    entries.append(_add_file(tar, path, rel))
                except FileNotFoundError:  # deleted by the running server since the listing
                    logger.info("backup skips %s: removed while the backup ran", rel)
            manifest = {
                "format": FORMAT_VERSION,
                "created_at": datetime.now(UTC).isoformat(),
                "aigc_version": __version__,
                "database": DB_NAME,
                "files": entries,
            }
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
        partial.replace(dest)
    return dest


def _warn_if_store_elsewhere(settings: Settings) -> None:
    """Say so when the blob store is not inside the data directory (not in the archive)."""
    data = settings.data_dir.resolve()
    if settings.storage_backend != "directory":
        logger.warning("backup holds the database and data directory, not the S3 bucket")
    elif settings.storage_dir and not settings.storage_dir.resolve().is_relative_to(data):
        logger.warning("backup leaves out the blob store at %s: back it up", settings.storage_dir)


def _copy_database(source: Path, target: Path) -> None:
    """Snapshot with the online backup API, in one step so concurrent writes cannot restart it."""
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            result = dst.execute("PRAGMA integrity_check").fetchone()
            if result is None or result[0] != "ok":
                raise BackupError(f"the database copy failed its integrity check: {result}")
        finally:
            dst.close()
    finally:
        src.close()


def _private_file(path: Path) -> IO[bytes]:
    """A new file only its owner can read: the archive holds the server secret."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _data_files(root: Path, skip: set[Path]) -> Iterator[tuple[Path, str]]:
    """Regular files of the data directory, except the live database, temp files and ``skip``.

    Symbolic links are left out (restore refuses them) with a warning.
    """
    if not root.is_dir():
        return
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if here / d not in skip)
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path in skip or rel in _DB_COMPANIONS or name.endswith(_TEMP_SUFFIXES):
                continue
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(mode):
                logger.warning("backup skips %s: not a regular file", rel)
                continue
            yield path, rel
        for name in dirnames:
            if (here / name).is_symlink():
                logger.warning("backup skips %s: a symbolic link", (here / name).relative_to(root))


def _add_file(tar: tarfile.TarFile, path: Path, rel: str) -> dict[str, Any]:
    """Add one file under ``data/``, hashing exactly the bytes written to the archive."""
    with path.open("rb") as handle:
        st = os.fstat(handle.fileno())
        info = tarfile.TarInfo(f"{_DATA}/{rel}")
        info.size, info.mode, info.mtime = st.st_size, stat.S_IMODE(st.st_mode), int(st.st_mtime)
        reader = _HashingReader(handle)
        tar.addfile(info, reader)
    return {"path": rel, "size": st.st_size, "sha256": reader.hexdigest()}


class _HashingReader:
    """A file wrapper that hashes what tarfile reads through it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._sha.update(data)
        return data

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def restore(settings: Settings, archive: Path, force: bool = False) -> None:
    """Replace the data directory with the archive's content. Stop the server first.

    Everything is extracted into a staging directory next to the target and checked against
    the manifest (and SQLite's integrity check) before the target is touched. A non-empty
    target needs ``force``, and is then moved aside to ``<data_dir>.before-restore-<time>``.
    """
    _sqlite_path(settings)
    target = settings.data_dir.resolve()
    if target.exists() and not target.is_dir():
        raise BackupError(f"{target} exists and is not a directory")
    occupied = target.is_dir() and any(target.iterdir())
    if occupied and not force:
        raise BackupError(f"{target} is not empty; restore with force to move it aside")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    try:
        staged = staging / _DATA
        staged.mkdir(mode=0o700)
        _extract_verified(Path(archive), staged)
        if occupied:
            aside = target.with_name(f"{target.name}.before-restore-{_timestamp()}")
            target.rename(aside)
            try:
                staged.rename(target)
            except BaseException:
                aside.rename(target)
                raise
            logger.warning("restore moved the previous data directory to %s", aside)
        else:
            if target.is_dir():
                target.rmdir()
            staged.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_verified(archive: Path, staged: Path) -> None:
    """Extract regular files under ``data/`` into ``staged`` and check them all."""
    found: dict[str, tuple[int, str]] = {}
    manifest: dict[str, Any] | None = None
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    raise BackupError(f"archive member {member.name!r} is not a regular file")
                source = tar.extractfile(member)
                assert source is not None  # regular files always have content
                if member.name == MANIFEST:
                    if manifest is not None or member.size > _MAX_MANIFEST_BYTES:
                        raise BackupError("archive has a duplicate or oversized manifest")
                    manifest = json.loads(source.read())
                    continue
                rel = _safe_name(member.name)
                if rel in found:
                    raise BackupError(f"archive member {member.name!r} appears twice")
                found[rel] = _write_member(source, staged / rel, member.mode)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BackupError(f"{archive} is not a readable aigc backup: {exc}") from exc
    _check_manifest(manifest, found)
    db = sqlite3.connect(staged / DB_NAME)
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()
    finally:
        db.close()
    if result is None or result[0] != "ok":
        raise BackupError(f"the archived database failed its integrity check: {result}")


def _safe_name(name: str) -> str:
    """The path below ``data/``; refuses absolute paths, ``..`` and anything outside."""
    path = PurePosixPath(name)
    parts = path.parts
    if (
        path.is_absolute()
        or "\\" in name
        or len(parts) < 2
        or parts[0] != _DATA
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise BackupError(f"archive member {name!r} has an unsafe name")
    return PurePosixPath(*parts[1:]).as_posix()


def _write_member(source: IO[bytes], path: Path, mode: int) -> tuple[int, str]:
    """Copy one member to a new file, returning its size and SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    sha, size = hashlib.sha256(), 0
    with path.open("xb") as out:
        while chunk := source.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
    path.chmod(stat.S_IMODE(mode) & 0o777)
    return size, sha.hexdigest()


def _check_manifest(manifest: dict[str, Any] | None, found: dict[str, tuple[int, str]]) -> None:
    if not isinstance(manifest, dict):
        raise BackupError("archive has no manifest.json")
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"unsupported backup format {manifest.get('format')!r}")
    try:
        listed = {e["path"]: (int(e["size"]), str(e["sha256"])) for e in manifest["files"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"manifest.json is malformed: {exc}") from exc
    if DB_NAME not in listed:
        raise BackupError("archive has no database")
    if set(listed) != set(found):
        extra, absent = sorted(set(found) - set(listed)), sorted(set(listed) - set(found))
        raise BackupError(f"archive and manifest disagree: unlisted {extra}, absent {absent}")
    for rel, expected in listed.items():
        if found[rel] != expected:
            raise BackupError(f"checksum mismatch for {rel}: the archive was altered or damaged")
