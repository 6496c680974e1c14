"""Backup while writes go on, and a restore that refuses anything it cannot trust."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
import tarfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aigc.config import Settings
from aigc.infra.audit import AuditEvent, AuditLog
from aigc.infra.backup import BackupError, backup, restore
from aigc.infra.db import Database
from aigc.infra.schema import Meta
from aigc.tables import Base


def make_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=None, secret_key=None)


def event(n: int) -> AuditEvent:
    return AuditEvent(
        f"req-{n}", datetime.now(UTC), "t1", "k1", None, "POST", "/v1/x", "m", 200, 3, 4
    )


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    """A populated data directory: database with some bulk, a secret, an uploaded file."""
    settings = make_settings(tmp_path / "data")
    settings.server_secret()
    db = Database(settings.db_url)
    Base.metadata.create_all(db.engine)
    with db.session() as session:
        session.add_all(Meta(key=f"bulk-{i}", value="x" * 50_000) for i in range(200))
    db.dispose()
    files = settings.data_dir / "files"
    files.mkdir()
    (files / "x.bin").write_bytes(os.urandom(1_000_000))
    (settings.data_dir / "upload.tmp").write_bytes(b"half-written")
    return settings


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def write_archive(path: Path, entries: list[tarfile.TarInfo], data: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info in entries:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)


def rewrite(archive: Path, out: Path, changes: dict[str, bytes]) -> None:
    """Copy an archive, replacing some members' content but not the manifest."""
    content = members(archive)
    content.update(changes)
    write_archive(out, [tarfile.TarInfo(name) for name in content], content)


def test_backup_during_writes_restores_a_consistent_snapshot(
    source: Settings, tmp_path: Path
) -> None:
    secret = source.server_secret()
    db = Database(source.db_url)
    log = AuditLog(db, secret)
    stop = threading.Event()
    written = [0]
    started = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            log.append([event(n)])
            with db.session() as session:
                session.add(Meta(key=f"live-{n}", value=str(n)))
            written[0] = n
            started.set()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert started.wait(10)
        before = written[0]
        archive = backup(source, tmp_path / "out")
        after = written[0]
    finally:
        stop.set()
        writer.join()
    db.dispose()
    assert after > before, "the writer made no progress during the backup"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    names = set(members(archive))
    assert "manifest.json" in names and "data/aigc.db" in names
    assert not {"data/aigc.db-wal", "data/aigc.db-shm", "data/upload.tmp"} & names

    target = make_settings(tmp_path / "restored")
    restore(target, archive)
    with sqlite3.connect(target.data_dir / "aigc.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        audit_rows = conn.execute("SELECT count(*) FROM audit_records").fetchone()[0]
        live = conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'live-%'").fetchone()[0]
    conn.close()
    assert before <= audit_rows <= after
    assert live in (audit_rows, audit_rows - 1)  # the snapshot falls between two commits
    restored = Database(target.db_url)
    result = AuditLog(restored, target.server_secret()).verify()
    restored.dispose()
    assert result.ok and result.count == audit_rows, result.problems
    assert target.server_secret() == secret
    for rel in ("files/x.bin", "secret.key"):
        assert (target.data_dir / rel).read_bytes() == (source.data_dir / rel).read_bytes()
    assert stat.S_IMODE((target.data_dir / "secret.key").stat().st_mode) == 0o600
    assert not (target.data_dir / "upload.tmp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out", "restored"]


def test_backup_to_a_file_name(source: Settings, tmp_path: Path) -> None:
    dest = tmp_path / "nightly.tar.gz"
    assert backup(source, dest) == dest.resolve()
    assert dest.is_file()


def test_tampered_archive_is_refused(source: Settings, tmp_path: Path) -> None:
    archive = backup(source, tmp_path)
    bad = tmp_path / "bad.tar.gz"
    rewrite(archive, bad, {"data/files/x.bin": b"replaced"})
    target = make_settings(tmp_path / "restored")
    with pytest.raises(BackupError, match="checksum mismatch"):
        restore(target, bad)
    assert not target.data_dir.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_unlisted_member_is_refused(source: Settings, tmp_path: Path) -> None:
    archive = backup(source, tmp_path)
    bad = tmp_path / "bad.tar.gz"
    rewrite(archive, bad, {"data/extra.txt": b"sneaked in"})
    with pytest.raises(BackupError, match="disagree"):
        restore(make_settings(tmp_path / "restored"), bad)


def symlink(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


def hardlink(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, "data/aigc.db"
    return info


@pytest.mark.parametrize(
    "evil",
    [
        tarfile.TarInfo("data/../../escaped.txt"),
        tarfile.TarInfo("../escaped.txt"),
        tarfile.TarInfo("/tmp/aigc-escaped.txt"),
        tarfile.TarInfo("data/sub/../../../escaped.txt"),
        symlink("data/link"),
        hardlink("data/hard"),
    ],
    ids=["dotdot", "outside", "absolute", "nested-dotdot", "symlink", "hardlink"],
)
def test_unsafe_members_are_refused(
    source: Settings, tmp_path: Path, evil: tarfile.TarInfo
) -> None:
    archive = backup(source, tmp_path)
    content = members(archive)
    infos = [tarfile.TarInfo(name) for name in content if name != "manifest.json"]
    infos += [evil, tarfile.TarInfo("manifest.json")]
    if evil.isfile():
        content[evil.name] = b"escaped"
    bad = tmp_path / "evil.tar.gz"
    write_archive(bad, infos, content)
    target = make_settings(tmp_path / "deep" / "restored")
    target.data_dir.mkdir(parents=True)
    (target.data_dir / "keep.txt").write_text("old")
    with pytest.raises(BackupError):
        restore(target, bad, force=True)
    assert [p.name for p in target.data_dir.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in target.data_dir.parent.iterdir()) == ["restored"]
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/aigc-escaped.txt").exists()


def test_non_empty_target_needs_force(source: Settings, tmp_path: Path) -> None:
    archive = backup(source, tmp_path)
    target = make_settings(tmp_path / "restored")
    target.data_dir.mkdir()
    (target.data_dir / "keep.txt").write_text("old")
    with pytest.raises(BackupError, match="not empty"):
        restore(target, archive)
    assert [p.name for p in target.data_dir.iterdir()] == ["keep.txt"]

    restore(target, archive, force=True)
    assert (target.data_dir / "files" / "x.bin").is_file()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("restored.before-restore-")]
    assert len(aside) == 1 and (aside[0] / "keep.txt").read_text() == "old"


def test_empty_target_dir_is_used(source: Settings, tmp_path: Path) -> None:
    archive = backup(source, tmp_path)
    target = make_settings(tmp_path / "restored")
    target.data_dir.mkdir()
    restore(target, archive)
    assert (target.data_dir / "aigc.db").is_file()


def test_postgres_is_pointed_to_pg_dump(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u:p@h/db")
    with pytest.raises(ValueError, match="pg_dump"):
        backup(settings, tmp_path)
    with pytest.raises(ValueError, match="pg_dump"):
        restore(settings, tmp_path / "x.tar.gz")
