"""Give back a thread's OpenMP worker threads once it is done with torch's CPU kernels.

Why: torch's CPU kernels run on GNU OpenMP, which keeps one team of worker threads per
thread that ever ran a parallel region, for the life of that thread. Between regions its
workers spin briefly before they sleep, but only while libgomp manages no more threads than
there are CPUs; past that it spins almost not at all, and every one of the hundreds of
parallel regions of a decode step waits for sleeping workers to wake. A server builds a model
(loading, quantizing: parallel regions) on one thread and decodes on the engine's: the
builder's idle team alone puts a 2-core machine over the line. Measured on the 24-layer
Qwen2.5-0.5B shape, one-row fp32 decode on the engine's thread: 127 ms a step with the
builder's team alive, 95 ms once it is given back (100 ms on a lone thread).

``omp_pause_resource_all(omp_pause_hard)`` (OpenMP 5.0) ends the calling thread's team;
libgomp starts a new one if the thread runs a parallel region again. Elsewhere (no libgomp in
the process: macOS, other OpenMP runtimes) this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

_PAUSE_HARD = 2  # omp_pause_hard: the team's threads end


@functools.cache
def _libgomps() -> tuple[ctypes.CDLL, ...]:
    """Every libgomp this process has loaded. Often more than one: torch's own copy, and
    another that scikit-learn's (or faiss's) wheel brings; each keeps its own teams, so the
    one torch runs on must be among those asked, whichever the process mapped first."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return ()
    paths: list[str] = []
    for line in maps.splitlines():
        path = line.rsplit(maxsplit=1)[-1] if line.strip() else ""
        if "libgomp" in Path(path).name and path not in paths:
            paths.append(path)
    found = []
    for path in paths:
        try:
            library = ctypes.CDLL(path)
            library.omp_pause_resource_all.argtypes = [ctypes.c_int]
        except (OSError, AttributeError):
            continue
        found.append(library)
    return tuple(found)


def release_thread_pool() -> bool:
    """End the calling thread's OpenMP worker threads, in every libgomp of the process. True
    when there was one to ask and each agreed (libgomp refuses inside a parallel region)."""
    answers = [int(library.omp_pause_resource_all(_PAUSE_HARD)) for library in _libgomps()]
    return bool(answers) and all(answer == 0 for answer in answers)
