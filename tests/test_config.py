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


def test_yaml_file_under_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Precedence: environment over the AIGC_CONFIG file over the defaults."""
    config = tmp_path / "aigc.yaml"
    config.write_text("port: 9100\nhost: 0.0.0.0\nconsole: off\nlog_json: 'no'\n")
    monkeypatch.setenv("AIGC_CONFIG", str(config))
    monkeypatch.setenv("AIGC_PORT", "9200")
    monkeypatch.setenv("AIGC_DEFAULT_MODELS", "OFF")
    settings = Settings()
    assert (settings.port, settings.host) == (9200, "0.0.0.0")
    assert settings.console is False and settings.log_json is False
    assert settings.default_models is False and settings.max_messages == 1_000


def test_a_named_settings_file_must_exist_and_hold_a_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGC_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        Settings()
    listed = tmp_path / "list.yaml"
    listed.write_text("- port\n")
    monkeypatch.setenv("AIGC_CONFIG", str(listed))
    with pytest.raises(ValueError, match="mapping"):
        Settings()


def test_job_slots_and_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGC_JOB_SLOTS", "3")
    monkeypatch.setenv("AIGC_JOB_THREADS", "4")
    settings = Settings()
    assert (settings.job_slots, settings.job_cpu_threads) == (3, 4)
    monkeypatch.setenv("AIGC_JOB_SLOTS", "0")
    with pytest.raises(ValueError, match="job_slots"):
        Settings()
