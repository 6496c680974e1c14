"""`aigc train`: queue the job, run it here with a progress bar, register the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aigc.models.text import neural

TINY = ["-p", "max_iters=20", "-p", "eval_interval=10", "-p", "block_size=32", "-p", "batch_size=4"]


def test_cli_trains_an_rnn_and_registers_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aigc.cli import app

    data = tmp_path / "corpus"
    data.mkdir()
    (data / "pydoc.txt").write_text("\n".join(neural.pydoc_texts()[:8]), encoding="utf-8")
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", str(data))
    runner = CliRunner()
    args = ["train", "rnn", "--data", str(data), "--name", "rnn-doc", "-p", "tokenizer=char"]
    args += [*TINY, "-p", "cell=gru", "-p", "n_hidden=32", "-p", "n_embd=16", "-p", "n_layer=1"]
    trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.output
    assert "val_perplexity" in trained.output
    listed = runner.invoke(app, ["models", "list"])
    assert "rnn-doc" in listed.output and "ready" in listed.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already exists" in again.output
    unknown = runner.invoke(
        app, ["train", "gpt", "--data", str(data), "--name", "gpt-x", "-p", "n_layers=2"]
    )
    assert unknown.exit_code == 1 and "n_layers" in unknown.output
    outside = runner.invoke(app, ["train", "gpt", "--data", str(tmp_path), "--name", "gpt-y"])
    assert outside.exit_code == 1 and "import roots" in outside.output
