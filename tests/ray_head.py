"""A Ray head of our own, for the Ray Serve tests and ``bench/scale_ray.py``.

``ray start --head --block`` in a new session: the process stays in the foreground while the
head lives, and ending its process group ends exactly the processes it started (never
another head on the machine). Its ports are free ones, not Ray's fixed defaults, and its
session lives under a short temp dir (Ray's Unix socket paths have a length limit).

Everything talks over loopback. Left to itself, Ray takes ``127.0.0.1`` for "this machine" and
swaps in the address the machine routes out from (for the head's node, for every driver's
``ray.init``); a machine may refuse connections to that address (CI's did: "Failed to connect to
GCS at address 192.0.2.2"). So the head, a server and an in-process driver each run with Ray's
single-machine setting: ``LOOPBACK_ONLY`` in a new process's environment, ``loopback_driver()``
in this one, where Ray read its environment at import.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from tests.e2e.server import free_port
from tests.processes import spawn, wait_ready

RAY = str(Path(sys.executable).with_name("ray"))
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray's "one machine, no cluster"


@contextmanager
def ray_head(cpus: int, timeout: float = 180) -> Iterator[str]:
    """A Ray head with ``cpus`` logical CPUs; its address (``127.0.0.1:port``). ``timeout``:
    seconds to wait for it (Ray starts slowly on a busy machine)."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    port = free_port()
    log = Path(temp) / "head.log"
    proc = spawn(
        [
            RAY,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--ray-client-server-port={free_port()}",  # not the fixed defaults: another
            f"--dashboard-port={free_port()}",  # head on this machine may hold them
            f"--num-cpus={cpus}",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
        ],
        log,
        start_new_session=True,  # its own process group: the end ends it and its children
        env=os.environ | {"RAY_USAGE_STATS_ENABLED": "0"} | LOOPBACK_ONLY,
    )
    try:
        wait_ready(
            proc,
            lambda: "Ray runtime started" in log.read_text(errors="replace"),
            name="ray head",
            log_path=log,
            timeout=timeout,
            stop=lambda: None,  # the finally below ends it
        )
        yield f"127.0.0.1:{port}"
    finally:
        _stop_group(proc)
        shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def loopback_driver() -> Iterator[None]:
    """This process as a driver of such a head: what ``LOOPBACK_ONLY`` sets, set on the constant
    Ray read it into when it was imported."""
    from ray._private import ray_constants

    with mock.patch.object(ray_constants, "ENABLE_RAY_CLUSTER", False):
        yield


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the head's process group (``ray start --block`` stops its children), then
    SIGKILL to whatever of that group is left."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
