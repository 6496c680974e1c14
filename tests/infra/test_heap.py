"""The start-up heap is left out of the collector's full passes while the server runs: found by
the streaming soak (bench/soak.py), where each full collection also walked some 400,000 objects
of torch, the console and the models (0.3 s) with the event loop stopped."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from aigc.app import create_app
from aigc.config import Settings
from aigc.infra.heap import frozen_startup_heap
from tests.e2e.server import new_admin_key


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
