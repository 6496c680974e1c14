"""The throwaway servers of tests/services.py: what they are, and that none outlives its session.

The PostgreSQL and Redis tests all over the suite show that the servers work; these show what
those cannot: who runs PostgreSQL and nginx, and what is left after a stop or after a killed
session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 30.0


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie that nobody reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.1)
    return gone(pid)


def test_postgres_runs_unprivileged_with_a_superuser_and_leaves_nothing() -> None:
    bindir = services.postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin)")
    server = services.Postgres(bindir).start()
    assert server.proc is not None
    pid, folder = server.proc.pid, server.dir
    try:
        owner = Path(f"/proc/{pid}").stat().st_uid
        assert owner != 0  # PostgreSQL refuses root; as root it runs as postgres or nobody
        assert owner == os.geteuid() or os.geteuid() == 0
        with psycopg.connect(
            host="127.0.0.1", port=server.port, user="aigc", dbname="postgres"
        ) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert row.fetchone() == (True,)
    finally:
        server.stop()
    assert gone(pid)
    assert not folder.exists()


def test_nginx_runs_unprivileged_with_its_workers_and_leaves_nothing() -> None:
    binary = services.nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (no nginx on PATH or in /usr/sbin)")
    server = services.Nginx(binary, [f"127.0.0.1:{services.free_port()}"]).start()
    assert server.proc is not None
    pid, folder = server.proc.pid, server.dir
    workers = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    try:
        assert workers
        for process in (pid, *workers):
            assert Path(f"/proc/{process}").stat().st_uid != 0 or os.geteuid() != 0
    finally:
        server.stop()
    assert gone(pid) and all(wait_gone(worker) for worker in workers)
    assert not folder.exists()


def test_a_killed_session_takes_its_server_down_and_the_next_one_removes_its_files() -> None:
    binary = services.redis_binary()
    if binary is None:
        pytest.skip("Redis is not installed (no redis-server on PATH)")
    session = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from tests import services\n"
            "server = services.Redis(Path(sys.argv[1])).start()\n"
            "print(server.proc.pid, server.dir, flush=True)\n"
            "time.sleep(600)\n",
            str(binary),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert session.stdout is not None
    pid_text, folder_text = session.stdout.readline().split()
    server_pid, folder = int(pid_text), Path(folder_text)
    assert not gone(server_pid)

    session.send_signal(signal.SIGKILL)  # no teardown, no atexit: only the kernel acts
    session.wait()
    assert wait_gone(server_pid)
    assert folder.exists()  # nobody was left to remove it

    services.Redis(binary).stop()  # the next server cleans up after a dead session
    assert not folder.exists()


FORKS_WHILE_GRPC_IS_BUSY = """
import os, subprocess, threading
from concurrent import futures
import grpc

server = grpc.server(futures.ThreadPoolExecutor(4))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
channel = grpc.insecure_channel(f"127.0.0.1:{port}")
done = threading.Event()

def call() -> None:
    while not done.is_set():
        try:
            grpc.channel_ready_future(channel).result(timeout=0.01)
            channel.unary_unary("/none/none")(b"", timeout=0.01)
        except (grpc.RpcError, grpc.FutureTimeoutError):
            pass

threading.Thread(target=call, daemon=True).start()
# user= (or preexec_fn) makes subprocess fork instead of vfork, so fork handlers run
own = {"user": 0, "group": 0, "extra_groups": []} if os.geteuid() == 0 else {"preexec_fn": int}
failed = sum(subprocess.run(["true"], **own).returncode != 0 for _ in range(200))
done.set()
print(failed)
"""


def test_a_busy_grpc_client_in_the_test_process_breaks_no_fork() -> None:
    """CI once lost initdb (SIGABRT) after the Ray tests: gRPC's fork handlers, which
    tests/__init__.py turns off (with them on, ~30 % of these forks abort)."""
    assert os.environ.get("GRPC_ENABLE_FORK_SUPPORT") == "false"
    done = subprocess.run(
        [sys.executable, "-c", FORKS_WHILE_GRPC_IS_BUSY],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "0", done.stderr[-2000:]
