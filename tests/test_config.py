"""Settings from the environment, as operators write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from aigc.config import Settings


def test_environment_values_in_plain_shell_syntax(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", "/srv/corpora:/data/models")
    monkeypatch.setenv("AIGC_DEFAULT_MODELS", "off")
    monkeypatch.setenv("AIGC_PORT", "9000")
    settings = Settings()
    assert settings.import_roots == [Path("/srv/corpora"), Path("/data/models")]
    assert settings.default_models is False
    assert settings.base_url == "http://127.0.0.1:9000"


def test_sqlite_by_default_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.is_sqlite and settings.db_url.endswith(f"{tmp_path}/aigc.db")
