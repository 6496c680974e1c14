"""First start: the admin key shown once, the setup link, the owner created in the browser form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.server import Server


def test_first_start_issues_a_key_once_and_the_setup_page_creates_the_owner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = Server(data, admin_key="", AIGC_PUBLIC_URL="http://aigc.example:8000")
    srv.start()
    try:
        notice = data / "first-run.txt"
        # Output is not a terminal here, so the secrets went to a private file, not to the log.
        assert notice.exists() and oct(notice.stat().st_mode & 0o777) == "0o600"
        content = notice.read_text()
        key = re.search(r"sk-aigc-\S+", content).group(0)  # type: ignore[union-attr]
        token = re.search(r"/setup\?token=(\S+)", content).group(1)  # type: ignore[union-attr]
        assert "http://aigc.example:8000/setup?token=" in content
        assert key not in srv.logs() and token not in srv.logs()

        client = srv.sdk(key)
        assert "template-helpdesk" in [m.id for m in client.models.list()]
        assert srv.api("GET", "/api/tenants", key=key).status_code == 200  # platform admin

        bad = httpx.get(f"{srv.base_url}/setup", params={"token": "wrong"})
        assert bad.status_code == 403
        page = httpx.get(
            f"{srv.base_url}/setup", params={"token": token}, headers={"Accept-Language": "zh-CN"}
        )
        assert page.status_code == 200 and "创建所有者" in page.text
        mismatch = httpx.post(
            f"{srv.base_url}/setup",
            data={
                "token": token,
                "username": "owner",
                "password": "s3cret-pass",
                "confirm": "other-pass",
            },
        )
        assert mismatch.status_code == 400
        # A refusal of the API's account rules, on a Chinese page: in Chinese, what was typed kept.
        short = httpx.post(
            f"{srv.base_url}/setup",
            data={"token": token, "username": "张伟", "password": "short", "confirm": "short"},
            headers={"Accept-Language": "zh-CN"},
        )
        assert short.status_code == 400
        assert "密码至少需要 8 个字符。" in short.text and 'value="张伟"' in short.text
        assert "Password must" not in short.text
        created = httpx.post(
            f"{srv.base_url}/setup",
            data={
                "token": token,
                "username": "owner",
                "password": "s3cret-pass",
                "confirm": "s3cret-pass",
            },
        )
        assert created.status_code == 201, created.text
        users = srv.api("GET", "/api/users", key=key).json()["data"]
        assert [(u["username"], u["role"], u["platform_admin"]) for u in users] == [
            ("owner", "owner", True)
        ]
        again = httpx.post(
            f"{srv.base_url}/setup",
            data={
                "token": token,
                "username": "evil",
                "password": "s3cret-pass",
                "confirm": "s3cret-pass",
            },
        )
        assert (
            "evil" not in again.text
            and len(srv.api("GET", "/api/users", key=key).json()["data"]) == 1
        )
    finally:
        srv.stop()
    notice.unlink()
    second = Server(data, admin_key="").start()  # an owner exists: nothing is issued again
    second.stop()
    assert not notice.exists()


def test_headless_owner_and_keys_from_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "AIGC_DATA_DIR": str(tmp_path / "data")}

    def aigc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aigc.cli", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
        )

    made = aigc(
        "admin",
        "create-user",
        "--role",
        "owner",
        "--username",
        "root",
        "--password-stdin",
        stdin="pa55word!\n",
    )
    assert made.returncode == 0, made.stderr
    assert aigc("admin", "create-tenant", "Finance").returncode == 0
    key = aigc(
        "keys",
        "create",
        "--tenant",
        "Finance",
        "--name",
        "bot",
        "--rpm",
        "10",
        "--models",
        "template-helpdesk",
    )
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip()
    assert secret.startswith("sk-aigc-")
    listed = aigc("keys", "list", "--tenant", "Finance")
    assert "bot" in listed.stdout and secret not in listed.stdout
    key_id = re.search(r"key_[0-9a-f]+", key.stderr).group(0)  # type: ignore[union-attr]
    assert aigc("keys", "revoke", key_id).returncode == 0
    srv = Server(tmp_path / "data", admin_key="").start()
    try:
        revoked = srv.api("GET", "/v1/models", key=secret)
        assert revoked.status_code == 401
    finally:
        srv.stop()
    assert aigc("admin", "create-tenant", "Finance").returncode == 1  # clear error, no traceback


def test_an_organizations_owner_made_before_setup_leaves_setup_open(tmp_path: Path) -> None:
    """Found by the security probe: setup counted the owners of every organization, so an
    owner of another organization, made with the first key before the install's owner, shut
    /setup ("setup is complete") and the install never got its owner from the browser."""
    data = tmp_path / "data"
    srv = Server(data, admin_key="")
    srv.start()
    try:
        content = (data / "first-run.txt").read_text()
        key = re.search(r"sk-aigc-\S+", content).group(0)  # type: ignore[union-attr]
        token = re.search(r"/setup\?token=(\S+)", content).group(1)  # type: ignore[union-attr]
        finance = srv.api("POST", "/api/tenants", key=key, json={"name": "财务部"}).json()
        made = srv.api(
            "POST",
            "/api/users",
            key=key,
            json={
                "username": "finance-owner",
                "password": "s3cret-pass",
                "role": "owner",
                "tenant_id": finance["id"],
            },
        )
        assert made.status_code == 201, made.text
        page = httpx.get(f"{srv.base_url}/setup", params={"token": token})
        assert page.status_code == 200 and 'name="password"' in page.text
        form = {
            "token": token,
            "username": "owner",
            "password": "pa55-word",
            "confirm": "pa55-word",
        }
        assert httpx.post(f"{srv.base_url}/setup", data=form).status_code == 201
        users = srv.api("GET", "/api/users", key=key).json()["data"]
        assert ("owner", True) in [(u["username"], u["platform_admin"]) for u in users]
    finally:
        srv.stop()
