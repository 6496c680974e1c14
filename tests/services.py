"""Throwaway PostgreSQL and Redis servers for a test session that was given no server URLs.

Why: `make test` on a fresh machine must run the PostgreSQL and Redis tests, not skip them,
once the binaries are installed (`make deps`). Each server gets its own temporary directory
and a free loopback port, so a server already running on the machine is never touched.

Each server is a direct child of the test process and never outlives it: the session fixture
stops it, atexit stops it when the session ends on Ctrl-C or an error, and the kernel sends it
a signal when the test process dies without running either (PR_SET_PDEATHSIG). It runs in its
own session, so a Ctrl-C at the terminal reaches pytest (which tears down) and not the server.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg
import redis

from tests import processes
from tests.e2e.server import free_port

PG_ROOT = Path("/usr/lib/postgresql")
PG_SUPERUSER = "aigc"
# PostgreSQL refuses to run as root; these run it instead, the first one that exists.
PG_RUN_AS = ("postgres", "nobody")
# nginx as root would keep a root master process; this user runs it instead.
NGINX_RUN_AS = ("nobody",)
PR_SET_PDEATHSIG = 1
STARTUP_S = 60.0
STOP_S = 30.0
DIR_PREFIX = "aigc-test-"
OWNER_FILE = "owner.pid"


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin (Debian's layout), else the folder of `initdb`
    on PATH; None when PostgreSQL's server binaries are not installed."""

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))

    candidates = sorted(PG_ROOT.glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def nginx_binary() -> Path | None:
    """`nginx` on PATH or Debian's /usr/sbin/nginx (not on a user's PATH); None when absent."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    return Path(found) if found else None


def redis_binary() -> Path | None:
    """`redis-server` on PATH; None when Redis is not installed."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn: the kernel sends ``sig`` to the child when the test process dies.

    It runs after Popen has switched user (switching clears the setting). Linux only;
    elsewhere the servers rely on teardown and atexit."""
    if sys.platform != "linux":
        return None
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the setting took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


class Service(ABC):
    """One server process and its temporary directory; ``stop`` may be called more than once."""

    name = "service"
    stop_signal = signal.SIGTERM

    def __init__(self) -> None:
        self.port = free_port()
        _remove_orphans()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{self.name}-"))
        (self.dir / OWNER_FILE).write_text(str(os.getpid()))
        self.log_path = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.user: str | None = None  # set to run the server as another user (when root)
        atexit.register(self.stop)

    @property
    @abstractmethod
    def url(self) -> str:
        """What a client connects to."""

    def _ids(self) -> tuple[int | None, int | None]:
        if self.user is None:
            return None, None
        entry = pwd.getpwnam(self.user)
        return entry.pw_uid, entry.pw_gid

    def run(self, args: Sequence[str]) -> None:
        """Run a preparing command (as the server's user) and fail with its output."""
        uid, gid = self._ids()
        done = subprocess.run(
            list(args),
            cwd=self.dir,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def spawn(self, args: Sequence[str]) -> None:
        uid, gid = self._ids()
        self.proc = processes.spawn(
            args,
            self.log_path,
            cwd=self.dir,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent(self.stop_signal),
        )

    @abstractmethod
    def ready(self) -> bool:
        """Whether the server answers a client yet."""

    def wait_ready(self) -> None:
        assert self.proc is not None
        processes.wait_ready(
            self.proc,
            self.ready,
            name=self.name,
            log_path=self.log_path,
            timeout=STARTUP_S,
            stop=self.stop,
        )

    def halt(self) -> None:
        """Stop the server process but keep its files: ``start`` brings it back on the same
        port, with its data (an outage, for tests of what clients see meanwhile)."""
        proc, self.proc = self.proc, None
        processes.stop(proc, self.stop_signal, STOP_S)

    def stop(self) -> None:
        """Stop the server (its clean shutdown signal, a kill if it hangs), remove its files."""
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)
        atexit.unregister(self.stop)


class Postgres(Service):
    """A throwaway cluster: trust authentication on loopback and its own socket folder, a
    superuser ``aigc``; durability off (fsync), since it is thrown away."""

    name = "postgres"
    stop_signal = signal.SIGINT  # PostgreSQL's fast shutdown: clients disconnected, no wait

    def __init__(self, bindir: Path) -> None:
        super().__init__()
        self.bindir = bindir
        if os.geteuid() == 0:
            self.user = _unprivileged_user()
            uid, gid = self._ids()
            assert uid is not None and gid is not None
            os.chown(self.dir, uid, gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> Postgres:
        data = self.dir / "data"
        if not (data / "PG_VERSION").exists():  # a start after ``halt`` keeps its cluster
            self._initdb(data)
        self.spawn(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        )
        self.wait_ready()
        return self

    def _initdb(self, data: Path) -> None:
        self.run(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                PG_SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ]
        )

    def ready(self) -> bool:
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user=PG_SUPERUSER,
                dbname="postgres",
                connect_timeout=2,
            ):
                return True
        except psycopg.OperationalError:
            return False


class Redis(Service):
    """A throwaway redis-server on loopback with no persistence (no RDB, no AOF)."""

    name = "redis"

    def __init__(self, binary: Path) -> None:
        super().__init__()
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.spawn(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ]
        )
        self.wait_ready()
        return self

    def ready(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()


class Nginx(Service):
    """A throwaway nginx in front of ``instances`` (``host:port`` of each `aigc serve`), running
    the site `aigc nginx-config` prints (aigc/infra/nginx.py) on a free loopback port.

    Only the main context around the site is the test's: its own pid, logs and temporary
    folders in this service's folder, one worker, no daemon. As root it runs as ``nobody``
    (a port above 1024 needs no privilege), so nothing of it runs as root. The access log
    names the instance that answered each request (``$upstream_addr``) and no query string."""

    name = "nginx"
    stop_signal = signal.SIGTERM  # nginx's fast shutdown
    ACCESS_LOG = "access.log"

    def __init__(self, binary: Path, instances: Sequence[str], port: int | None = None) -> None:
        super().__init__()
        if port is not None:  # chosen earlier, e.g. to tell the instances their public URL
            self.port = port
        self.binary = binary
        self.instances = list(instances)
        if os.geteuid() == 0:
            self.user = _unprivileged_user(NGINX_RUN_AS)
            uid, gid = self._ids()
            assert uid is not None and gid is not None
            os.chown(self.dir, uid, gid)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> tuple[str, str]:
        """nginx.conf (the test's main context, which includes the site) and the site itself."""
        from aigc.infra.nginx import site_config

        site = site_config(self.instances, listen=f"127.0.0.1:{self.port}", server_name="_")
        temp = "\n".join(
            f"    {kind}_temp_path {self.dir / ('tmp-' + kind)};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            f"daemon off;\nworker_processes 1;\npid {self.dir / 'nginx.pid'};\n"
            f"error_log {self.dir / 'error.log'} notice;\n"
            "events {\n    worker_connections 1024;\n}\n"
            "http {\n"
            "    log_format upstreams '$request_method $uri $status $upstream_addr';\n"
            f"    access_log {self.dir / self.ACCESS_LOG} upstreams;\n{temp}\n"
            f"    include {self.dir / 'site.conf'};\n"
            "}\n"
        ), site

    def start(self) -> Nginx:
        main, site = self.config()
        (self.dir / "site.conf").write_text(site)
        (self.dir / "nginx.conf").write_text(main)
        args = [
            str(self.binary),
            "-p",
            str(self.dir),
            "-c",
            str(self.dir / "nginx.conf"),
            "-e",
            str(self.dir / "error.log"),
        ]
        self.run([*args, "-t", "-q"])  # a config nginx refuses fails here, with its reason
        self.spawn(args)
        self.wait_ready()
        return self

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def access_log(self) -> list[list[str]]:
        """The requests nginx passed on: [method, path, status, upstream addresses] each (more
        than one address, comma-separated, when nginx tried another instance)."""
        path = self.dir / self.ACCESS_LOG
        if not path.exists():
            return []
        return [line.split(" ", 3) for line in path.read_text().splitlines() if line.strip()]


def _remove_orphans() -> None:
    """Remove the folders of servers whose test process was killed (no atexit ran); the kernel
    stopped those servers, but their files stayed. Folders of live sessions are left alone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not written yet, or not ours to judge
        if not _alive(owner):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _unprivileged_user(candidates: Sequence[str] = PG_RUN_AS) -> str:
    for name in candidates:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError(f"running as root and none of the users {candidates} exists to run it")
