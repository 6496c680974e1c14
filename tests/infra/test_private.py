"""The data directory is 0700 and the database files 0600 whatever the umask (issue 14, 12)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from aigc.app import build_services
from aigc.config import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_startup_makes_the_data_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "secret.key").write_text("0" * 64)  # as an older version left it: 0644
    services = build_services(Settings(data_dir=data))
    try:
        with services.db.session() as s:  # a write, so the -wal file exists
            s.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            s.execute(text("INSERT INTO probe VALUES (1)"))
        assert _mode(data) == 0o700
        files = [data / n for n in ("aigc.db", "aigc.db-wal", "aigc.db-shm", "secret.key")]
        present = [f for f in files if f.exists()]
        assert data / "aigc.db-wal" in present
        assert {f.name: _mode(f) for f in present} == {f.name: 0o600 for f in present}
    finally:
        services.db.dispose()
