"""The same server on PostgreSQL: migrations, keys, generation and the audit chain."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.server import Server, make_org, new_admin_key


def test_server_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", new_admin_key(), AIGC_DATABASE_URL=postgres_url).start()
    try:
        tenant = srv.api("POST", "/api/tenants", json={"name": "PG Org"}).json()
        key = srv.api("POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "admin"}).json()
        client = srv.sdk(key["key"])
        reply = client.chat.completions.create(
            model="template-helpdesk", messages=[{"role": "user", "content": "打印机卡纸了"}]
        )
        assert "打印机" in (reply.choices[0].message.content or "")
        assert (
            srv.api("GET", "/api/keys", key=key["key"]).json()["data"][0]["tenant_id"]
            == tenant["id"]
        )
    finally:
        srv.stop()
    assert not (tmp_path / "data" / "aigc.db").exists()  # nothing went to SQLite
    env = {**os.environ, "AIGC_DATA_DIR": str(tmp_path / "data"), "AIGC_DATABASE_URL": postgres_url}
    verify = subprocess.run(
        [sys.executable, "-m", "aigc.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert "intact" in verify.stdout


def test_text_postgresql_cannot_store_is_a_400(postgres_url: str, tmp_path: Path) -> None:
    """A NUL character in a name was a 500 on PostgreSQL (its text columns cannot hold one)
    and the next request on that connection was reset; it is a 400, and the server serves on."""
    srv = Server(tmp_path / "data", new_admin_key(), AIGC_DATABASE_URL=postgres_url).start()
    try:
        headers = {"Authorization": f"Bearer {srv.admin_key}", "Content-Type": "application/json"}
        for body in ('{"name": "A\\u0000B"}', '{"name": "lone \\ud800"}'):
            reply = httpx.post(f"{srv.base_url}/api/tenants", content=body, headers=headers)
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["code"] == "invalid_json"
        assert srv.api("POST", "/api/tenants", json={"name": "PG Org"}).status_code == 201
    finally:
        srv.stop()


def test_a_text_file_with_nul_bytes_is_indexed_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """Its chunks held the NUL character, PostgreSQL refused them, the ingestion job failed
    and every document of it stayed "indexing"."""
    srv = Server(tmp_path / "data", new_admin_key(), AIGC_DATABASE_URL=postgres_url).start()
    try:
        org = make_org(srv, "PG Docs")
        kb = srv.api("POST", "/api/kb", key=org.admin_key, json={"name": "logs"}).json()
        upload = srv.api(
            "POST",
            f"/api/kb/{kb['id']}/documents",
            key=org.admin_key,
            files={"files": ("junk.log", b"disk\x00 full on node-7\x00\x00\n", "text/plain")},
        )
        assert upload.status_code == 200, upload.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            docs = srv.api("GET", f"/api/kb/{kb['id']}/documents", key=org.admin_key).json()
            if docs["data"][0]["status"] in ("ready", "failed"):
                break
            time.sleep(0.5)
        assert (docs["data"][0]["status"], docs["data"][0]["error"]) == ("ready", None)
    finally:
        srv.stop()
