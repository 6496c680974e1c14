"""Files: the storage functions directly, then the OpenAI Files API through the official SDK."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openai
import pytest

from aigc.access import Principal
from aigc.errors import InvalidRequest, NotFound, PayloadTooLarge, PermissionDenied
from aigc.infra import files
from aigc.infra.db import Database
from aigc.infra.schema import FileRecord
from tests.e2e.server import Org, Server

A = Principal(tenant_id="t_a", role="member")
A_VIEWER = Principal(tenant_id="t_a", role="viewer")
B = Principal(tenant_id="t_b", role="member")
NOTES = "会议纪要：第三季度预算已批准。\nMeeting notes: Q3 budget approved.\n".encode()


@pytest.fixture
def db(tenant_db: Database) -> Database:
    return tenant_db


def save(
    db: Database,
    data_dir: Path,
    chunks: list[bytes],
    filename: str = "notes.txt",
    purpose: str = "user_data",
    principal: Principal = A,
    max_bytes: int = 1024,
) -> FileRecord:
    with db.session() as s:
        return files.save_upload(s, data_dir, principal, filename, purpose, chunks, max_bytes)


def leftovers(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "files").rglob("*") if p.is_file()]


# --- the functions -------------------------------------------------------------------------


def test_upload_streams_hashes_and_stores_under_the_id(db: Database, tmp_path: Path) -> None:
    record = save(db, tmp_path, [NOTES[:10], NOTES[10:]])
    assert record.id.startswith("file-") and record.bytes == len(NOTES)
    path = files.file_path(tmp_path, record)
    assert path == tmp_path / "files" / "t_a" / record.id
    assert path.read_bytes() == NOTES
    assert record.sha256 == hashlib.sha256(NOTES).hexdigest()
    assert leftovers(tmp_path) == [path]  # no temporary file left over


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a\x00b\x1b[31m\u202etxt.exe", "ab[31mtxt.exe"),
        ("..", "upload"),
        ("", "upload"),
        ("数据/训练集.jsonl", "训练集.jsonl"),
    ],
)
def test_filenames_are_for_display_only(
    db: Database, tmp_path: Path, sent: str, shown: str
) -> None:
    record = save(db, tmp_path / "data", [b"x"], filename=sent)
    assert record.filename == shown
    assert leftovers(tmp_path / "data") == [tmp_path / "data" / "files" / "t_a" / record.id]
    assert not (tmp_path / "etc").exists()


def test_too_large_upload_leaves_nothing_behind(db: Database, tmp_path: Path) -> None:
    with pytest.raises(PayloadTooLarge):
        save(db, tmp_path, [b"x" * 600, b"y" * 600], max_bytes=1000)
    assert leftovers(tmp_path) == []
    with db.session() as s:
        assert files.list_files(s, A).records == []


def test_empty_upload_is_refused(db: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as err:
        save(db, tmp_path, [b""])
    assert err.value.param == "file"
    assert leftovers(tmp_path) == []


def test_purpose_and_role_are_checked(db: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as err:
        save(db, tmp_path, [b"x"], purpose="vision-ish")
    assert err.value.param == "purpose"
    with pytest.raises(PermissionDenied):
        save(db, tmp_path, [b"x"], principal=A_VIEWER)
    record = save(db, tmp_path, [b"x"], purpose="knowledge")
    with db.session() as s:
        assert [r.id for r in files.list_files(s, A_VIEWER).records] == [
            record.id
        ]  # viewers may read
        assert files.list_files(s, A, purpose="training").records == []
        with pytest.raises(PermissionDenied):
            files.delete_file(s, tmp_path, A_VIEWER, record.id)


def test_other_tenant_cannot_see_or_delete(db: Database, tmp_path: Path) -> None:
    record = save(db, tmp_path, [NOTES])
    with db.session() as s:
        with pytest.raises(NotFound):
            files.get_file(s, B, record.id)
        with pytest.raises(NotFound):
            files.delete_file(s, tmp_path, B, record.id)
        assert files.list_files(s, B).records == []
    assert files.file_path(tmp_path, record).exists()

    with db.session() as s:
        files.delete_file(s, tmp_path, A, record.id)
    assert leftovers(tmp_path) == []
    with db.session() as s, pytest.raises(NotFound):
        files.get_file(s, A, record.id)


def test_files_are_listed_a_page_at_a_time_in_one_order(db: Database) -> None:
    """The list was every file, whatever ``limit``, ``order`` and ``after`` said. Now each page
    comes from the database, by created_at then id, so files made in the same instant neither
    repeat nor go missing across pages."""
    same = datetime(2025, 1, 2, tzinfo=UTC)
    moments = [same - timedelta(days=1), same, same, same, same + timedelta(days=1)]
    made = [("t_a", f"file-{i}", moment) for i, moment in enumerate(moments)]
    made.append(("t_b", "file-b", same))  # another tenant's, made in the same instant
    with db.session() as s:
        for tenant_id, file_id, moment in made:
            s.add(
                FileRecord(
                    id=file_id,
                    tenant_id=tenant_id,
                    filename="x",
                    purpose="user_data",
                    bytes=1,
                    sha256="0" * 64,
                    created_at=moment,
                )
            )
    expected = {
        "asc": [f"file-{i}" for i in range(5)],
        "desc": [f"file-{i}" for i in (4, 3, 2, 1, 0)],
    }
    for order in ("asc", "desc"):
        seen: list[str] = []
        after = None
        with db.session() as s:
            while True:
                page = files.list_files(s, A, limit=2, order=order, after=after)
                seen += [r.id for r in page.records]
                if not page.has_more:
                    break
                after = page.records[-1].id
        assert seen == expected[order]
    with db.session() as s:
        assert [r.id for r in files.list_files(s, A).records] == expected["desc"]
        for after in ("file-nope", "file-b"):  # none of the caller's files
            with pytest.raises(InvalidRequest) as err:
                files.list_files(s, A, after=after)
            assert err.value.param == "after"
        with pytest.raises(InvalidRequest) as err:
            files.list_files(s, A, limit=0)
        assert err.value.param == "limit"


# --- the API, with the official SDK --------------------------------------------------------


def test_files_api_roundtrip(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    created = c.files.create(file=("notes.txt", NOTES, "text/plain"), purpose="user_data")
    assert created.id.startswith("file-") and created.object == "file"
    assert (created.bytes, created.filename, created.purpose) == (
        len(NOTES),
        "notes.txt",
        "user_data",
    )
    assert created.status == "processed" and created.created_at > 0

    assert created.id in [f.id for f in c.files.list()]
    assert created.id in [f.id for f in c.files.list(purpose="user_data")]
    assert created.id not in [f.id for f in c.files.list(purpose="fine-tune")]
    assert c.files.retrieve(created.id).bytes == len(NOTES)
    assert c.files.content(created.id).content == NOTES  # byte-identical, Chinese included

    deleted = c.files.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        c.files.retrieve(created.id)


def test_files_api_refuses_bad_purpose(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    with pytest.raises(openai.BadRequestError) as err:
        c.files.create(file=("a.txt", b"hello", "text/plain"), purpose="nonsense")  # type: ignore[arg-type]
    assert err.value.param == "purpose"  # type: ignore[attr-defined]


def test_files_api_refuses_expires_after_it_would_not_honour(server: Server, org_a: Org) -> None:
    """Files are kept until deleted: a requested expiry is a 400 naming it, and nothing is
    stored (it was taken and ignored, the file kept for ever with expires_at null)."""
    c = server.sdk(org_a.member_key)
    before = {f.id for f in c.files.list()}
    with pytest.raises(openai.BadRequestError) as err:
        c.files.create(
            file=("纪要.txt", NOTES, "text/plain"),
            purpose="user_data",
            expires_after={"anchor": "created_at", "seconds": 3600},
        )
    assert err.value.param == "expires_after"  # type: ignore[attr-defined]
    assert err.value.code == "unsupported_parameter"  # type: ignore[attr-defined]
    assert {f.id for f in c.files.list()} == before
    kept = c.files.create(file=("纪要.txt", NOTES, "text/plain"), purpose="user_data")
    assert kept.expires_at is None  # without it, as before


def test_files_api_is_tenant_scoped(server: Server, org_a: Org, org_b: Org) -> None:
    mine = server.sdk(org_a.member_key).files.create(
        file=("secret.txt", b"org A only", "text/plain"), purpose="knowledge"
    )
    theirs = server.sdk(org_b.admin_key)
    with pytest.raises(openai.NotFoundError):
        theirs.files.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.files.content(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.files.delete(mine.id)
    assert mine.id not in [f.id for f in theirs.files.list()]
    # still there for its owner
    assert server.sdk(org_a.member_key).files.content(mine.id).content == b"org A only"
