"""`aigc kb ingest <kb> <folder>`: a file is named by its path in the folder, so files of one
name in two subfolders stay two documents, and no file of the run is dropped without a word.

The report: clidir/2023年/报销制度.txt and clidir/2024年/报销制度.txt both became 报销制度.txt,
the run said "document 1 of 2: 报销制度.txt indexed" and "document 2 of 2 …", and only the
2024 version was there afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from aigc.cli import app
from aigc.config import Settings
from aigc.errors import InvalidRequest
from aigc.infra.db import Database
from aigc.knowledge.ingest import check_document_name
from aigc.knowledge.tables import KbDocument


def _documents() -> dict[str, str]:
    db = Database(Settings().db_url)
    try:
        with db.session() as s:
            return {d.filename: d.status for d in s.scalars(select(KbDocument))}
    finally:
        db.dispose()


def _cli_with_a_kb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, imports: Path
) -> tuple[CliRunner, str]:
    """The CLI on a fresh data directory importing from ``imports``, and a keyword-only KB."""
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", str(imports))
    runner = CliRunner()
    created = runner.invoke(app, ["kb", "create", "docs", "--keyword-only"])
    assert created.exit_code == 0, created.output
    return runner, created.output.split()[1]


def test_files_of_one_name_in_two_subfolders_become_two_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imports = tmp_path / "imports"
    for year in ("2023年", "2024年"):
        (imports / "clidir" / year).mkdir(parents=True)
        policy = imports / "clidir" / year / "报销制度.txt"
        policy.write_text(f"{year}的报销制度：差旅按标准报销。")
    (imports / "clidir" / "总则.md").write_text("# 总则\n\n本制度适用于全体员工。\n")
    (imports / "other" / "2024年").mkdir(parents=True)
    (imports / "other" / "2024年" / "报销制度.txt").write_text("另一份报销制度。")
    runner, kb = _cli_with_a_kb(tmp_path, monkeypatch, imports)
    folders = [str(imports / "clidir"), str(imports / "other")]
    ingested = runner.invoke(app, ["kb", "ingest", kb, *folders])
    assert ingested.exit_code == 0, ingested.output
    assert "2023年/报销制度.txt indexed" in ingested.output
    assert "2024年/报销制度.txt indexed" in ingested.output
    # the same path in a second folder: said, counted, not silently replacing the first
    assert "'2024年/报销制度.txt' is already in this run" in ingested.output.replace("\n", "")
    assert "3 indexed, 0 failed, 0 unchanged, 1 skipped" in ingested.output.splitlines()[-1]
    assert _documents() == {
        "2023年/报销制度.txt": "ready",
        "2024年/报销制度.txt": "ready",
        "总则.md": "ready",
    }
    again = runner.invoke(app, ["kb", "ingest", kb, str(imports / "clidir")])
    assert "0 indexed, 0 failed, 3 unchanged" in again.output.splitlines()[-1], again.output


def test_two_spellings_of_one_name_are_one_name_in_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name is compared as the knowledge base keeps it: 总则.md and 总则.md followed by an
    ideographic space (U+3000) are both the document 总则.md, so the second is skipped and
    said so instead of silently replacing the first (found in review: the run compared the
    names as spelled, reported both indexed, and kept only the second's text)."""
    imports = tmp_path / "imports"
    (imports / "clidir").mkdir(parents=True)
    (imports / "clidir" / "总则.md").write_text("# 总则\n\n本制度适用于全体员工。\n")
    (imports / "clidir" / "总则.md\u3000").write_text("# 附则\n\n本制度自发布之日起施行。\n")
    runner, kb = _cli_with_a_kb(tmp_path, monkeypatch, imports)
    ingested = runner.invoke(app, ["kb", "ingest", kb, str(imports / "clidir")])
    assert ingested.exit_code == 0, ingested.output
    assert "'总则.md' is already in this run" in ingested.output.replace("\n", "")
    assert "1 indexed, 0 failed, 0 unchanged, 1 skipped" in ingested.output.splitlines()[-1]
    assert _documents() == {"总则.md": "ready"}


def test_a_path_is_a_name_only_where_folders_are_allowed() -> None:
    assert check_document_name("2023年/报销制度.txt", folders=True) == "2023年/报销制度.txt"
    for bad in ("../x.txt", "a//b.txt", "/etc/x.txt", "a/ /b.txt", "a\\b/c.txt", "a/\x1b.txt"):
        with pytest.raises(InvalidRequest):
            check_document_name(bad, folders=True)
    with pytest.raises(InvalidRequest) as caught:
        check_document_name("2023年/报销制度.txt")  # an upload: plain names only
    assert caught.value.code == "unsafe_filename"
