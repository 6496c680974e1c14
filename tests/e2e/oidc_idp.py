"""A real OpenID Connect provider for the SSO tests: `oidc-provider` (npm, certified) in Node.

``tests/e2e/oidc/`` holds the script and its package.json + package-lock.json; ``npm ci``
installs the locked packages into its (git-ignored) node_modules the first time. Without Node
the tests that need it skip, saying so (``sudo make deps`` installs nodejs and npm).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests import processes
from tests.e2e.server import free_port

HERE = Path(__file__).resolve().parent / "oidc"
MIN_NODE = 20  # run on 20.20 here; oidc-provider 9 supports 22 LTS and later (warns on 20)


def install() -> None:
    """``npm ci`` once (again when the lock file changed), or skip saying what is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node is not installed (Debian's nodejs and npm): the OIDC provider runs on it")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < MIN_NODE:
        pytest.skip(
            f"node {version} is older than Node.js {MIN_NODE}: oidc-provider 9 supports 22 LTS "
            "and later, these tests run on 20 and later (Debian 12 ships 18)"
        )
    stamp = HERE / "node_modules" / ".aigc-lock"
    lock = (HERE / "package-lock.json").read_bytes()
    if stamp.exists() and stamp.read_bytes() == lock:
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"npm ci failed in {HERE}:\n{result.stdout}\n{result.stderr}")
    stamp.write_bytes(lock)


@dataclass
class Client:
    client_id: str
    client_secret: str = field(default_factory=lambda: "cs-" + secrets.token_urlsafe(24))


class OidcProvider:
    """One `oidc-provider` process on a free loopback port; its log goes to ``log_path``."""

    def __init__(self, work: Path, redirect_base: str, clients: list[Client]) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.clients = {c.client_id: c for c in clients}
        key = RSAKey.generate_key(2048, parameters={"kid": "k-" + secrets.token_hex(4)})
        self.private_jwk: dict[str, Any] = key.as_dict(private=True)
        self.config_path = work / f"idp-{self.port}.json"
        self.log_path = work / f"idp-{self.port}.log"
        self.config_path.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "jwks": {"keys": [self.private_jwk | {"use": "sig", "alg": "RS256"}]},
                    "accounts": {},
                    "clients": [
                        {
                            "client_id": c.client_id,
                            "client_secret": c.client_secret,
                            "redirect_uris": [f"{redirect_base}/console/sso/callback"],
                            "post_logout_redirect_uris": [f"{redirect_base}/login"],
                            "response_types": ["code"],
                            "grant_types": ["authorization_code"],
                            "token_endpoint_auth_method": "client_secret_basic",
                        }
                        for c in clients
                    ],
                }
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> OidcProvider:
        install()
        self.proc = processes.spawn(
            ["node", str(HERE / "idp.mjs"), str(self.config_path)], self.log_path, cwd=HERE
        )
        processes.wait_ready(
            self.proc,
            processes.answers(f"{self.issuer}/.well-known/openid-configuration"),
            name="oidc-provider",
            log_path=self.log_path,
            timeout=timeout,
            stop=self.stop,
        )
        return self

    def stop(self) -> None:
        processes.stop(self.proc, timeout=10)

    def set_account(self, account_id: str, claims: dict[str, Any]) -> None:
        """Create or change an account: its claims as the provider will issue them."""
        response = httpx.put(f"{self.issuer}/__test__/accounts/{account_id}", json=claims)
        response.raise_for_status()

    def change_next_id_token(self, resign: bool, **claims: Any) -> None:
        """The next ID token this provider issues gets these claims (None: removed)."""
        response = httpx.post(
            f"{self.issuer}/__test__/next-id-token", json={"set": claims, "resign": resign}
        )
        response.raise_for_status()
