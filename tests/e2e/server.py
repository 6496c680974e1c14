"""Start the real server (`aigc serve`) as a process on a free loopback port, for e2e tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

from tests import processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_admin_key() -> str:
    return "sk-aigc-" + secrets.token_urlsafe(24)


class Server:
    """One `aigc serve` process; its stdout and stderr go to ``log_path`` for inspection."""

    def __init__(self, data_dir: Path, admin_key: str, **env: str) -> None:
        self.data_dir = data_dir
        self.admin_key = admin_key
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "AIGC_DATA_DIR": str(data_dir),
            "AIGC_ADMIN_KEY": admin_key,
            "AIGC_DEFAULT_MODELS": "off",
            "AIGC_LOG_LEVEL": "INFO",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> Server:
        """Start the server and wait until ``/readyz`` answers 200; a failed start stops it and
        raises with the log's tail (tests/processes.py)."""
        # 180 s: on a shared 2-core machine under load (load average 14 seen) a server took
        # just over 60 s to import torch and migrate, and a 60 s limit failed healthy starts.
        self.proc = processes.spawn(
            [
                sys.executable,
                "-m",
                "aigc",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            self.log_path,
            env=self.env,
        )
        processes.wait_ready(
            self.proc,
            processes.answers(f"{self.base_url}/readyz"),
            name="server",
            log_path=self.log_path,
            timeout=timeout,
            stop=self.stop,
        )
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM, as a service manager does); kill only if it hangs. Its exit
        status (None when it was never started)."""
        return processes.stop(self.proc, timeout=timeout)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def api(
        self, method: str, path: str, key: str | None = None, **kwargs: object
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def sdk(self, key: str | None = None) -> openai.OpenAI:
        """The real openai SDK pointed at this server's /v1, as ``key`` (the platform admin's
        when none); no retries, so a refusal reaches the test as it was sent."""
        return openai.OpenAI(
            base_url=f"{self.base_url}/v1", api_key=key or self.admin_key, max_retries=0
        )

    def register_shared(self, models: dict[str, dict[str, Any]]) -> None:
        """Register each model (name → config) for every organization, as the platform admin."""
        for name, config in models.items():
            made = self.api(
                "POST", "/api/models", json={"id": name, "config": config, "shared": True}
            )
            assert made.status_code == 201, made.text

    def wait_job(self, key: str, job_id: str, timeout: float = 240) -> dict[str, Any]:
        """The job once it has ended (succeeded, failed or cancelled), polled as its owner."""
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.api("GET", f"/api/jobs/{job_id}", key=key).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not finish: {job}")


@dataclass
class Org:
    id: str
    admin_key: str
    member_key: str


def make_org(server: Server, name: str) -> Org:
    """An organization with an admin key and a member key, made through the management API."""
    tenant = server.api("POST", "/api/tenants", json={"name": name}).json()
    admin = server.api(
        "POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "admin", "name": "admin"}
    ).json()
    member = server.api(
        "POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "member", "name": "member"}
    ).json()
    return Org(tenant["id"], admin["key"], member["key"])
