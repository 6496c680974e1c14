"""`aigc kb ingest` into a log: a progress line per file, each saying what became of it.

The first report: ingesting 20 filings printed nothing for almost 7 minutes when the output
was not a terminal (Rich's bar only draws on one).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.knowledge.pdfs import locked_pdf


def test_kb_ingest_writes_a_line_per_file_when_not_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aigc.cli import app

    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / "leave.md").write_text("# Leave\n\nEmployees get 25 days of annual leave.\n")
    (imports / "owner-only.pdf").write_bytes(locked_pdf("Travel is booked via the portal.", ""))
    (imports / "locked.pdf").write_bytes(locked_pdf("Salaries are confidential.", "open-sesame"))
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", str(imports))
    runner = CliRunner()  # its output is a buffer, not a terminal
    created = runner.invoke(app, ["kb", "create", "docs", "--keyword-only"])
    assert created.exit_code == 0, created.output
    ingested = runner.invoke(app, ["kb", "ingest", created.output.split()[1], str(imports)])
    assert ingested.exit_code == 0, ingested.output
    lines = ingested.output.splitlines()
    per_file = [line for line in lines if re.search(r"document \d of 3: ", line)]
    assert len(per_file) == 3, ingested.output
    said = "\n".join(per_file)
    assert re.search(r"leave\.md indexed, 1 chunks", said)
    assert re.search(r"owner-only\.pdf indexed, 1 chunks", said)  # an empty user password
    assert "locked.pdf failed: The PDF needs a password to open" in said
    assert "1 failed" in lines[-1] and "2 indexed" in lines[-1]
