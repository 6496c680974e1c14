"""One run of a job per key at a time: callers that arrive while it runs wait for it instead of
running it again (a burst that misses a cache must not send every request to the database)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class SingleFlight:
    """Runs one job per key at a time; concurrent callers wait for the running one.

    The job leaves its result where callers look (a cache, a counter), so a caller that waited
    checks again afterwards and does the work itself only if it is still missing (the job
    failed). Futures from ``concurrent.futures`` work across threads and event loops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, concurrent.futures.Future[None]] = {}

    async def run(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> bool:
        """Run ``job`` (True) or wait for the one running under ``key`` (False)."""
        mine: concurrent.futures.Future[None] = concurrent.futures.Future()
        mine.set_running_or_notify_cancel()  # a cancelled waiter must not cancel it
        with self._lock:
            running = self._running.setdefault(key, mine)
        if running is not mine:
            await asyncio.wrap_future(running)
            return False
        try:
            await job()
        finally:
            with self._lock:
                del self._running[key]
            mine.set_result(None)
        return True

    async def get_or_load(
        self, key: Hashable, read: Callable[[], T | None], load: Callable[[], Awaitable[T]]
    ) -> T:
        """``read()`` (a cache, no I/O); on a miss ``load()`` (which fills that cache), once per
        key at a time: a caller that waited reads again, and loads itself only if the load it
        waited for failed (so it fails the same way)."""
        found = read()
        if found is not None:
            return found
        loaded: list[T] = []

        async def job() -> None:
            loaded.append(await load())

        if await self.run(key, job):
            return loaded[0]
        found = read()
        return found if found is not None else await load()
