"""The server raises its soft limit on open files to the hard limit: a socket per client, and
1,024 (a common default) ran out at 1,000 concurrent streams (bench/soak.py)."""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aigc.infra.open_files import UNLIMITED_TARGET, raise_open_files_limit
from tests.e2e.server import Server, new_admin_key

SOFT, HARD = resource.getrlimit(resource.RLIMIT_NOFILE)
LOW = 1024
needs_room = pytest.mark.skipif(
    sys.platform != "linux" or (HARD != resource.RLIM_INFINITY and HARD <= LOW),
    reason="needs Linux and a hard open-files limit above 1,024",
)


@pytest.fixture
def low_soft_limit() -> Iterator[None]:
    """This process's soft limit at 1,024 for the test (what a child inherits), then restored."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, HARD))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, HARD))


def expected() -> int:
    return UNLIMITED_TARGET if HARD == resource.RLIM_INFINITY else HARD


@needs_room
def test_the_soft_limit_goes_up_to_the_hard_one(low_soft_limit: None) -> None:
    assert raise_open_files_limit() == (LOW, expected())
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (expected(), HARD)
    assert raise_open_files_limit() == (expected(), expected())  # already there: unchanged


@needs_room
def test_aigc_serve_started_under_a_low_limit_raises_it(
    tmp_path: Path, low_soft_limit: None
) -> None:
    server = Server(tmp_path / "data", new_admin_key()).start()
    try:
        assert server.proc is not None
        limits = Path(f"/proc/{server.proc.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert int(line.split()[3]) == expected()
    finally:
        server.stop()
