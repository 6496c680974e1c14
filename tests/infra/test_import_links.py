"""Folder imports read only what is really inside the folder: links leading out are skipped.

The attack run's case: ``imports/sub/deep.txt`` links to a file outside the import root, and
``aigc kb ingest … imports/sub`` indexed it. Naming the link itself was already refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aigc.errors import PermissionDenied
from aigc.infra.paths import LEAVES, files_under, open_inside

SECRET = "outside-secret-7c2e91"


def tree(tmp_path: Path) -> Path:
    """imports/sub with an inside file, links out (file and folder), a loop and a FIFO."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    (outside / "dir" / "more.txt").write_text(SECRET, encoding="utf-8")
    sub = tmp_path / "imports" / "sub"
    (sub / "nested").mkdir(parents=True)
    (sub / "inside.txt").write_text("The quarterly report is due on Friday.", encoding="utf-8")
    (sub / "nested" / "deep.txt").symlink_to(outside / "secret.txt")
    (sub / "linked-dir").symlink_to(outside / "dir", target_is_directory=True)
    (sub / "dotdot.txt").symlink_to(Path("..") / ".." / "outside" / "secret.txt")
    (sub / "again.txt").symlink_to(sub / "inside.txt")  # stays inside: read once
    (sub / "loop").symlink_to(sub, target_is_directory=True)
    (sub / "broken.txt").symlink_to(sub / "gone.txt")
    os.mkfifo(sub / "pipe.txt")
    return sub


def test_files_under_skips_what_leads_out(tmp_path: Path) -> None:
    sub = tree(tmp_path)
    found = list(files_under(sub))
    assert [p for p, reason in found if reason is None] == [sub / "inside.txt"]
    assert {p.as_posix(): reason for p, reason in found if reason is not None} == {
        "broken.txt": "a broken link",
        "dotdot.txt": LEAVES,
        "linked-dir": LEAVES,
        "nested/deep.txt": LEAVES,
        "pipe.txt": "not a regular file",
    }


def test_open_inside_refuses_a_link_swapped_in(tmp_path: Path) -> None:
    sub = tree(tmp_path)
    with open_inside(sub / "inside.txt", sub) as fh:
        assert b"quarterly" in fh.read()
    # Resolved, then replaced by a link before it is opened: the link is not followed.
    (sub / "inside.txt").unlink()
    (sub / "inside.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    with pytest.raises(OSError):
        open_inside(sub / "inside.txt", sub)
    # A real path outside the folder (a directory swapped for a link above it) is refused.
    with pytest.raises(PermissionDenied, match="outside the folder"):
        open_inside(tmp_path / "outside" / "secret.txt", sub)


def test_cli_kb_ingest_skips_links_out_of_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aigc.cli import app

    sub = tree(tmp_path)
    data = tmp_path / "data"
    monkeypatch.setenv("AIGC_DATA_DIR", str(data))
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", str(tmp_path / "imports"))
    runner = CliRunner()
    created = runner.invoke(app, ["kb", "create", "docs", "--keyword-only"])
    assert created.exit_code == 0, created.output
    kb_id = created.output.split()[1]
    ingested = runner.invoke(app, ["kb", "ingest", kb_id, str(sub)])
    assert ingested.exit_code == 0, ingested.output
    output = "".join(ingested.output.split())  # rich wraps long lines, even inside words
    assert "1indexed" in output and "5skipped" in output
    leaves = "".join(LEAVES.split())
    assert f"sub/nested/deep.txt:{leaves}" in output and f"sub/linked-dir:{leaves}" in output
    stored = b"".join(p.read_bytes() for p in data.glob("**/*") if p.is_file())
    assert b"quarterly report" in stored  # the inside file was indexed...
    assert SECRET.encode() not in stored  # ...and nothing from outside reached the data dir
    # Naming the link itself stays refused.
    direct = runner.invoke(app, ["kb", "ingest", kb_id, str(sub / "nested" / "deep.txt")])
    assert direct.exit_code != 0 and "importroots" in "".join(direct.output.split())
