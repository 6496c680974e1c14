"""Server processes that tests start: spawned with their output in a log, waited for until
they answer, stopped with a signal (a kill if they hang).

One helper for every such server (``aigc serve`` of ``tests/e2e/server.py``, the OIDC provider
of the SSO tests, the throwaway PostgreSQL and Redis of ``tests/services.py``, the Ray head of
``tests/ray_head.py``), so each says only how it is started and how
to tell that it answers; a failed start always ends in the same error, with the log's tail.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

LOG_TAIL_CHARS = 4000


def spawn(args: Sequence[str], log_path: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``args`` with stdout and stderr appended to ``log_path`` and no stdin; ``popen``:
    more of ``subprocess.Popen``'s arguments (cwd, env, user, ...). The child keeps the log
    open; this process does not."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(args), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **popen
        )


def log_tail(log_path: Path) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return ""


def wait_ready(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    name: str,
    log_path: Path,
    timeout: float,
    stop: Callable[[], object],
) -> None:
    """Poll ``ready`` until it is true. If the process exits first, or ``timeout`` seconds pass,
    call ``stop`` (the caller's: it may also clean up) and raise a RuntimeError that holds the
    tail of the log (read before ``stop``, which may remove it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_tail(log_path)
            stop()
            raise RuntimeError(f"{name} exited at start:\n{tail}")
        if ready():
            return
        time.sleep(0.1)
    tail = log_tail(log_path)
    stop()
    raise RuntimeError(f"{name} did not become ready in {timeout:.0f} s:\n{tail}")


def answers(url: str) -> Callable[[], bool]:
    """A ``ready`` check for an HTTP server: ``url`` answers 200."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def stop(
    proc: subprocess.Popen[bytes] | None, sig: signal.Signals = signal.SIGTERM, timeout: float = 30
) -> int | None:
    """Stop the process with ``sig`` (its clean shutdown), killed if it has not ended after
    ``timeout`` seconds; its exit status (None when there was no process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
