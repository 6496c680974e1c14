"""Several files in one upload request (``knowledge.uploads``): what is refused, and how."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from aigc.errors import APIError, InvalidRequest, PayloadTooLarge
from aigc.knowledge import uploads
from aigc.knowledge.tables import KbDocument
from tests.knowledge.conftest import Sandbox


def _upload(sandbox: Sandbox, kb: str, files: dict[str, bytes]) -> uploads.Uploaded:
    with sandbox.db.session() as s:
        return uploads.upload_documents(
            s, sandbox.settings, sandbox.admin_a, kb, [(n, [d]) for n, d in files.items()]
        )


def test_a_refused_file_among_accepted_ones_has_an_error_object_in_its_place(
    sandbox: Sandbox,
) -> None:
    kb = sandbox.kb(sandbox.admin_a, "uploads")
    files = {"程序.exe": b"MZ\x90", "制度.txt": "报销制度".encode(), "空.txt": b""}
    done = _upload(sandbox, kb, files)
    refused, accepted, empty = done.results
    assert refused["filename"] == "程序.exe"
    assert refused["error"]["code"] == "unsupported_file_type"
    assert "Unsupported file type '.exe'" in refused["error"]["message"]
    assert accepted["filename"] == "制度.txt" and accepted["status"] == "queued"
    assert empty["error"] == {
        "message": "'空.txt' is empty",
        "code": "empty_file",
        "details": [
            {"loc": "file", "type": "empty_file", "ctx": {}, "message": "'空.txt' is empty"}
        ],
    }
    assert done.job is not None


def test_an_upload_whose_every_file_is_refused_is_an_error_naming_each(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "uploads")
    with pytest.raises(InvalidRequest) as caught:
        _upload(sandbox, kb, {"程序.exe": b"MZ", "空.txt": b""})
    error = caught.value.body()["error"]
    assert caught.value.status == 400 and error["param"] == "files"
    assert error["code"] == "files_refused"
    assert "程序.exe" in error["message"] and "'空.txt' is empty" in error["message"]
    with sandbox.db.session() as s:
        assert not s.scalars(select(KbDocument)).all()  # nothing recorded


def test_an_upload_of_files_all_too_large_is_a_413(sandbox: Sandbox) -> None:
    sandbox.settings.kb_max_document_bytes = 10
    kb = sandbox.kb(sandbox.admin_a, "uploads")
    with pytest.raises(PayloadTooLarge) as caught:
        _upload(sandbox, kb, {"大.txt": b"x" * 11, "大2.md": b"y" * 20})
    error = caught.value.body()["error"]
    assert caught.value.status == 413 and error["code"] == "file_too_large"
    assert "大.txt" in error["message"] and "大2.md" in error["message"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("空白.txt", b"  \n\t\r\n"),
        ("全角.md", "\u3000\u3000\n\u00a0 ".encode()),
        ("bom.csv", b"\xef\xbb\xbf \n"),
        ("notepad.txt", " \n".encode("utf-16")),
        ("page.html", b"\n\n   "),
        ("export.xls", b"   \n\t"),  # a "spreadsheet" that is text: read as CSV
    ],
)
def test_a_text_file_of_blank_space_is_refused_up_front_as_an_empty_one(
    sandbox: Sandbox, name: str, data: bytes
) -> None:
    kb = sandbox.kb(sandbox.admin_a, "uploads")
    with pytest.raises(APIError) as caught:
        _upload(sandbox, kb, {name: data})
    assert caught.value.status == 400 and caught.value.code == "empty_file"
    assert "only blank space" in caught.value.message and name in caught.value.message


def test_blank_looking_bytes_that_are_text_or_not_a_text_format_are_taken(
    sandbox: Sandbox,
) -> None:
    kb = sandbox.kb(sandbox.admin_a, "uploads")
    done = _upload(sandbox, kb, {"zeros.txt": b"0000", "space.pdf": b"   "})
    assert [r.get("status") for r in done.results] == ["queued", "queued"]


def test_a_second_file_of_the_same_name_in_one_upload_is_refused_not_lost(
    sandbox: Sandbox,
) -> None:
    """Both came back with one document id, both queued, and only the second's content was
    kept."""
    kb = sandbox.kb(sandbox.admin_a, "uploads")
    first, second = "2023年的制度".encode(), "2024年的制度".encode()
    with sandbox.db.session() as s:
        done = uploads.upload_documents(
            s,
            sandbox.settings,
            sandbox.admin_a,
            kb,
            [("报销制度.txt", [b""]), ("报销制度.txt", [first]), (" 报销制度.txt", [second])],
        )
    empty, taken, again = done.results
    assert empty["error"]["code"] == "empty_file"  # refused: the next of its name is taken
    assert taken["status"] == "queued" and taken["sha256"] == hashlib.sha256(first).hexdigest()
    assert again["filename"] == " 报销制度.txt" and "id" not in again
    assert again["error"]["code"] == "duplicate_filename"
    assert "'报销制度.txt' is already in this upload" in again["error"]["message"]
    with sandbox.db.session() as s:
        assert len(s.scalars(select(KbDocument)).all()) == 1
