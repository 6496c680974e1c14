"""The garbage collector and the server's start-up heap.

A started server holds some 400,000 objects that live as long as the process (modules of
torch, transformers, the console, the models loaded at start). Python's full collection walks
every tracked object, 0.3 s of them alone here, with the event loop stopped meanwhile. Frozen,
they are left out of every collection and what requests allocate is collected as before: under
1,000 streams (``bench/soak.py``) the longest full collection went from 0.42 to 0.15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import cast

from aigc.infra import background


@contextlib.contextmanager
def frozen_startup_heap() -> Iterator[None]:
    """For the life of the block: start-up's garbage collected, then every object alive now
    moved to the permanent generation; given back to the collector when the block ends (an
    app stopped in a process that goes on, as in tests, leaves nothing behind)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# --- giving memory back after a burst ---------------------------------------------------------
#
# A burst of requests (1,000 streams) leaves the C allocator holding the memory it freed: glibc
# keeps freed blocks in each thread's arena for reuse, and the process's RSS stays at its peak
# (``bench/soak.py``: 409 MB at the start, 482 MB after the streams ended, 15 s later still 482).
# ``malloc_trim`` hands those free pages back to the system. It is called once per quiet spell
# (no request in flight for ``IDLE_S``), in a thread, so neither a busy server nor an idle one
# pays for it more than once.

IDLE_S = 2.0
CHECK_S = 1.0


class Traffic:
    """Requests in flight and when the last one ended, counted by the gateway's middleware."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.last_end = time.monotonic()
        self.served_since_trim = 0

    def begin(self) -> None:
        self.in_flight += 1

    def end(self) -> None:
        self.in_flight -= 1
        self.served_since_trim += 1
        self.last_end = time.monotonic()

    def quiet_after_work(self, idle_s: float) -> bool:
        """True once per quiet spell: nothing in flight for ``idle_s`` after some requests."""
        return (
            self.in_flight == 0
            and self.served_since_trim > 0
            and time.monotonic() - self.last_end >= idle_s
        )


traffic = Traffic()


def _libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast(Callable[[int], int], trim)


_malloc_trim = _libc_malloc_trim()


def give_back_memory() -> bool:
    """Collect garbage, then return the C allocator's free pages to the system. False where
    the C library cannot (then only the collection ran)."""
    gc.collect()
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


async def trim_when_idle(
    counter: Traffic = traffic, idle_s: float = IDLE_S, check_s: float = CHECK_S
) -> None:
    """Give memory back once after each burst of requests, when the server has gone quiet."""
    while True:
        await asyncio.sleep(check_s)
        if counter.quiet_after_work(idle_s):
            counter.served_since_trim = 0
            await asyncio.to_thread(give_back_memory)


def trimming_when_idle(counter: Traffic = traffic) -> contextlib.AbstractAsyncContextManager[None]:
    """Run ``trim_when_idle`` for the life of the block (the app's lifespan)."""
    return background.running(trim_when_idle(counter), "heap-trim")


def serve_on_system_allocator() -> None:
    """Re-run this process (same PID, same arguments) with ``PYTHONMALLOC=malloc`` unless the
    environment already names an allocator (``PYTHONMALLOC=pymalloc`` keeps Python's own).

    Why: Python's small-object allocator can only return a 1 MiB arena to the system when
    every object in it is gone, and a burst of requests leaves most arenas partly used: after
    1,000 streams ``bench/soak.py`` measured the RSS 59 MB above the start 15 s later, with
    ``malloc_trim`` after the burst. On the C allocator the same trim gives back what was
    freed: 32 MB above the start, for about 3 % more server CPU in the same run.
    """
    if "PYTHONMALLOC" in os.environ:
        return
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    os.execve(sys.executable, [sys.executable, "-m", "aigc", *sys.argv[1:]], env)
