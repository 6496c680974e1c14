"""The start-up heap is left out of the collector's full passes while the server runs: found by
the streaming soak (bench/soak.py), where each full collection also walked some 400,000 objects
of torch, the console and the models (0.3 s) with the event loop stopped."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from pathlib import Path

import pytest

from aigc.app import create_app
from aigc.config import Settings
from aigc.infra import heap
from aigc.infra.heap import frozen_startup_heap
from tests.e2e.server import Server, new_admin_key


def test_the_block_freezes_what_is_alive_and_gives_it_back() -> None:
    alive = [object() for _ in range(1000)]
    with frozen_startup_heap():
        assert gc.get_freeze_count() >= len(alive)
    assert gc.get_freeze_count() == 0


def test_a_started_app_runs_with_its_heap_frozen(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", admin_key=new_admin_key(), default_models=False, console=False
    )
    app = create_app(settings)
    seen: list[int] = []

    async def run() -> None:
        async with app.router.lifespan_context(app):
            seen.append(gc.get_freeze_count())

    asyncio.run(run())
    assert seen[0] > 100_000  # the modules, classes and functions of a started server
    assert gc.get_freeze_count() == 0  # stopped: nothing left out of collection


# --- memory given back after a burst (bench/soak.py: the RSS stayed at its peak) -------------


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(heap._malloc_trim is None, reason="the C library has no malloc_trim")
def test_freed_memory_goes_back_to_the_system() -> None:
    # 3,000 blocks of 48 KiB (C malloc, under its mmap threshold); every other one freed leaves
    # ~70 MB of free holes between live blocks, which free() alone keeps.
    blocks = [bytearray(48 * 1024) for _ in range(3000)]
    for i in range(0, len(blocks), 2):
        blocks[i] = bytearray()
    held = _rss_mb()
    assert heap.give_back_memory()
    assert held - _rss_mb() > 30
    del blocks


def test_a_quiet_spell_after_requests_is_noticed_once() -> None:
    traffic = heap.Traffic()
    assert not traffic.quiet_after_work(0.0)  # nothing served yet: nothing to give back
    traffic.begin()
    assert not traffic.quiet_after_work(0.0)  # a request in flight
    traffic.end()
    assert not traffic.quiet_after_work(60.0)  # not quiet for long enough
    assert traffic.quiet_after_work(0.0)


def test_the_trimmer_runs_once_per_quiet_spell(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[float] = []
    monkeypatch.setattr(heap, "give_back_memory", lambda: runs.append(time.monotonic()) or True)
    traffic = heap.Traffic()

    async def scenario() -> None:
        task = asyncio.create_task(heap.trim_when_idle(traffic, idle_s=0.05, check_s=0.01))
        await asyncio.sleep(0.2)
        assert runs == []  # no request yet
        for _ in range(2):  # two bursts, each followed by a quiet spell
            traffic.begin()
            await asyncio.sleep(0.1)
            assert len(runs) == _  # busy: nothing given back while a request runs
            traffic.end()
            await asyncio.sleep(0.3)
        task.cancel()

    asyncio.run(scenario())
    assert len(runs) == 2


def test_the_server_runs_on_the_c_allocator(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", new_admin_key()).start()
    try:
        assert server.proc is not None
        environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONMALLOC=malloc" in environ  # the same process, re-run on malloc
    finally:
        server.stop()


def test_a_chosen_allocator_is_kept(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", new_admin_key(), PYTHONMALLOC="pymalloc").start()
    try:
        assert server.proc is not None
        environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONMALLOC=pymalloc" in environ
    finally:
        server.stop()
