"""A watchdog on the event loop: how late it wakes from a short sleep is how long something
held the loop (a regex, a parse, a synchronous call), which every request then waits too.
Observed into ``aigc_event_loop_lag_seconds``, so a stall shows on /metrics and in benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aigc.infra import background
from aigc.infra.metrics import EVENT_LOOP_LAG

INTERVAL_S = 0.25


async def watch(interval_s: float = INTERVAL_S) -> None:
    """Sleep ``interval_s`` over and over; observe how much longer each sleep took."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval_s)
        EVENT_LOOP_LAG.observe(max(0.0, time.perf_counter() - started - interval_s))


def watching(interval_s: float = INTERVAL_S) -> contextlib.AbstractAsyncContextManager[None]:
    """Run ``watch`` for the life of the block (the app's lifespan)."""
    return background.running(watch(interval_s), "event-loop-lag")
