"""`aigc policies`: check, apply, list, show, try and delete against a fresh data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aigc.cli import app

POLICY = """
name: hr
rules:
  - {id: ids, stage: input, detector: pii, entities: [CN_RESIDENT_ID, EMAIL_ADDRESS],
     action: redact}
  - {id: salary, stage: input, detector: keywords, words: [工资表], action: block}
"""


def test_policies_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    good, bad = tmp_path / "hr.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY, encoding="utf-8")
    bad.write_text("name: bad\nrules:\n  - {id: a, stage: later, detector: pii, action: redact}\n")
    checked = runner.invoke(app, ["policies", "check", str(bad)])
    assert checked.exit_code == 1 and "rules.0.stage" in checked.output
    assert runner.invoke(app, ["policies", "check", str(good)]).exit_code == 0
    default = runner.invoke(app, ["policies", "try", "token sk-proj-Q8vLm2Zr7TxW4yKp9BnC3dHf"])
    assert "[SECRET_1]" in default.output and "input:secrets:redact:SECRET" in default.output
    applied = runner.invoke(app, ["policies", "apply", str(good)])
    assert applied.exit_code == 0, applied.output
    assert "hr" in runner.invoke(app, ["policies", "list"]).output
    assert "工资表" in runner.invoke(app, ["policies", "show", "hr"]).output
    tried = runner.invoke(app, ["policies", "try", "我的邮箱 li@example.cn"])
    assert "[EMAIL_ADDRESS_1]" in tried.output and "li@example.cn" not in tried.output
    blocked = runner.invoke(app, ["policies", "try", "把工资表发我"])
    assert blocked.exit_code == 2 and "input:salary:block" in blocked.output
    assert runner.invoke(app, ["policies", "delete", "hr"]).exit_code == 0
    assert runner.invoke(app, ["policies", "show", "hr"]).exit_code == 1
