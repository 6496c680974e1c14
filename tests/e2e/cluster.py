"""Two `aigc serve` instances behind a real nginx, as docs/deploy.md lays them out.

Each instance has its own data directory (nothing on one instance's disk may be needed by the
other) and shares what docs/deploy.md says must be equal on every instance: the database, Redis,
the server secret (audit chain, signed links, watermarks), the Fernet key (secrets at rest),
the shared storage directory and the public URL. nginx runs the site `aigc nginx-config`
renders, on a free loopback port.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.server import Server, free_port, new_admin_key

# Provisional: the shared blob store's directory setting of the storage branch (issue 20).
STORAGE_DIR_SETTING = "AIGC_STORAGE_DIR"


@dataclass
class Cluster:
    """Instances ``a`` and ``b`` and the ``nginx`` in front; ``shared`` is their common env."""

    a: Server
    b: Server
    nginx: services.Nginx
    shared: dict[str, str]
    admin_key: str
    extra: list[Server] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The balancer: where clients connect."""
        return self.nginx.url

    @property
    def instances(self) -> list[Server]:
        return [self.a, self.b]

    def api(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        """A call through nginx."""
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=60, **kwargs)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`aigc ARGS` as an operator runs it on a third machine: the shared settings, a data
        directory of its own."""
        env = {
            **os.environ,
            **self.shared,
            "AIGC_DATA_DIR": str(self.a.data_dir.parent.parent / "cli" / "data"),
        }
        return subprocess.run(
            [sys.executable, "-m", "aigc", *args], env=env, capture_output=True, text=True
        )

    def stop(self) -> None:
        self.nginx.stop()
        for server in (self.a, self.b, *self.extra):
            server.stop()


def shared_settings(database_url: str, redis_url: str, storage_dir: Path) -> dict[str, str]:
    """What must be equal on every instance (docs/deploy.md, "Settings every instance shares")."""
    return {
        "AIGC_DATABASE_URL": database_url,
        "AIGC_REDIS_URL": redis_url,
        "AIGC_SECRET_KEY": secrets.token_hex(32),
        "AIGC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        STORAGE_DIR_SETTING: str(storage_dir),
    }


def create_database(admin_url: str, prefix: str = "aigc_cluster") -> str:
    """A fresh database on the PostgreSQL server of ``admin_url`` (named ``prefix`` and a random
    suffix): the cluster's own, or one test's."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    _as_admin(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drop ``url``'s database, ending its sessions (``WITH (FORCE)``); none there is fine."""
    _as_admin(admin_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def _as_admin(admin_url: str, statement: str) -> None:
    """One statement as the server's admin, outside a transaction (CREATE and DROP DATABASE
    cannot run inside one)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def start_cluster(root: Path, database_url: str, redis_url: str, **env: str) -> Cluster:
    """Start A, then B (the first start migrates and seeds; two at once would race on it), then
    nginx. ``env`` adds settings to both instances."""
    nginx_binary = services.nginx_binary()
    if nginx_binary is None:
        raise RuntimeError("nginx is not installed (sudo make deps)")
    for name in ("a", "b", "cli"):
        (root / name).mkdir(parents=True, exist_ok=True)
    storage = root / "shared-storage"
    storage.mkdir(parents=True, exist_ok=True)
    admin_key = new_admin_key()
    shared = shared_settings(database_url, redis_url, storage)
    # The public URL is the balancer's: nginx's port is chosen before the instances start.
    nginx_port = free_port()
    common = {**shared, "AIGC_PUBLIC_URL": f"http://127.0.0.1:{nginx_port}", **env}
    a = Server(root / "a" / "data", admin_key, **common)
    b = Server(root / "b" / "data", admin_key, **common)
    started: list[Server] = []
    try:
        for server in (a, b):
            server.start(timeout=180)
            started.append(server)
        upstreams = [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]
        nginx = services.Nginx(nginx_binary, upstreams, port=nginx_port).start()
    except BaseException:
        for server in started:
            server.stop()
        raise
    return Cluster(a, b, nginx, {**shared, "AIGC_PUBLIC_URL": nginx.url}, admin_key)
