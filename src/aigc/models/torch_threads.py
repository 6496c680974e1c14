"""Torch CPU threads of one thread of this process, changed without touching the others'.

``torch.set_num_threads`` is not as global as its name says. It does three things: sets the
calling thread's OpenMP team size, sets the calling thread's MKL thread count
(``mkl_set_num_threads_local``), and stores the number that threads which have not yet run a
torch op take when they first do. The first two are exactly a per-thread budget; the third
would leak it into threads started later, so it is put back at once (only a torch call from
another thread does that without touching the calling thread's own settings). Threads that
already ran torch ops keep their number throughout.

Two users: the job runner gives each job's thread its budget (``models/job_runner.py``), and
an image edit's latent search runs on one thread (``one_thread``, ``models/image/editing.py``).
They share one lock, so neither reads the stored number while the other has it changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

_LOCK = threading.Lock()  # one changer of the stored number at a time


def _from_another_thread(call: Callable[[], object]) -> None:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join()


def _stored() -> int:
    """The number a thread takes at its first torch op (read in a fresh thread, as it is)."""
    seen: list[int] = []
    _from_another_thread(lambda: seen.append(torch.get_num_threads()))
    return seen[0]


def _set_here(threads: int, stored: int) -> None:
    """This thread's team size and MKL count to ``threads``; the stored number to ``stored``
    (under ``_LOCK``)."""
    # Torch sets up a thread's numbers from the stored one at its first call that asks
    # (lazily, once); done now, or that first call would undo the setting below.
    torch.get_num_threads()
    torch.set_num_threads(threads)
    if threads != stored:
        _from_another_thread(lambda: torch.set_num_threads(stored))


class TorchThreads:
    """Per-thread torch CPU thread limits for job threads; the process default stays put."""

    def __init__(self) -> None:
        # Read once, by the thread that builds the runner (startup): jobs change it only briefly.
        self.process_default = torch.get_num_threads()

    def limit_this_thread(self, threads: int) -> None:
        """Torch ops of the calling thread use ``threads`` CPU threads from now on."""
        with _LOCK:
            _set_here(threads, self.process_default)


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch ops of the calling thread run on one CPU thread inside the block, then on as
    many as before. For many tiny ops in a row (an edit's latent search: ~1.5 ms a step),
    where a team of threads costs more in waking and spinning than it computes, and
    oversubscribes the CPUs when several requests search at once."""
    with _LOCK:
        stored = _stored()
        before = torch.get_num_threads()
        _set_here(1, stored)
    try:
        yield
    finally:
        with _LOCK:
            _set_here(before, stored)
