"""The same server on PostgreSQL: migrations, keys, generation and the audit chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openai

from tests.e2e.server import Server, new_admin_key


def test_server_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", new_admin_key(), AIGC_DATABASE_URL=postgres_url).start()
    try:
        tenant = srv.api("POST", "/api/tenants", json={"name": "PG Org"}).json()
        key = srv.api("POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "admin"}).json()
        client = openai.OpenAI(base_url=f"{srv.base_url}/v1", api_key=key["key"], max_retries=0)
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
