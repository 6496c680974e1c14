"""Audit chain, secrets kept out of logs and audit, and backup/restore while serving."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.server import Server, new_admin_key

MODEL = "template-helpdesk"
SECRET_TEXT = "my colleague's salary is 98765 and the launch code is ZEBRA-4471"
PASSWORD = "Correct-Horse-Battery-9"


def aigc(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIGC_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "aigc.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[str]]]:
    """A server that handled varied traffic (keys, passwords, prompts) and then stopped."""
    root = tmp_path_factory.mktemp("audit")
    srv = Server(root / "data", new_admin_key()).start()
    secrets_seen = [srv.admin_key, PASSWORD]
    key = srv.api("POST", "/api/keys", json={"name": "app", "rpm_limit": 1000}).json()["key"]
    secrets_seen.append(key)
    srv.api(
        "POST", "/api/users", json={"username": "li.wei", "password": PASSWORD, "role": "member"}
    )
    client = srv.sdk(key)
    for _ in range(3):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": SECRET_TEXT}]
        )
    list(
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": SECRET_TEXT}], stream=True
        )
    )
    client.completions.create(model=MODEL, prompt=SECRET_TEXT)
    with pytest.raises(openai.AuthenticationError):
        srv.sdk("sk-aigc-wrong-" + key[-8:]).models.list()
    httpx.get(f"{srv.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert srv.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown
    assert "aigc stopped" in srv.logs()  # the lifespan finished: the audit writer flushed
    yield srv, secrets_seen


def test_no_key_password_or_request_text_in_logs_or_audit(
    finished_run: tuple[Server, list[str]],
) -> None:
    srv, secrets_seen = finished_run
    logs = srv.logs()
    assert '"request_id"' in logs  # JSON lines with the request id
    engine = create_engine(f"sqlite:///{srv.data_dir / 'aigc.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_records")).fetchall()
        tables = {
            "users": conn.execute(text("SELECT * FROM users")).fetchall(),
            "api_keys": conn.execute(text("SELECT * FROM api_keys")).fetchall(),
        }
    engine.dispose()
    audit_dump = "\n".join(repr(tuple(r)) for r in rows)
    assert len(rows) >= 8
    for needle in [*secrets_seen, "ZEBRA-4471", "98765", "salary"]:
        assert needle not in logs, f"{needle[:12]}… leaked into the logs"
        assert needle not in audit_dump, f"{needle[:12]}… leaked into the audit"
    stored = "\n".join(repr(tuple(r)) for rs in tables.values() for r in rs)
    for needle in secrets_seen:
        assert needle not in stored  # keys hashed, passwords argon2


def test_audit_verify_passes_then_detects_each_tampering(
    finished_run: tuple[Server, list[str]], tmp_path: Path
) -> None:
    srv, _ = finished_run
    ok = aigc(srv.data_dir, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout

    tamperings = {
        "edited": "UPDATE audit_records SET status = status + 1 WHERE seq = 5",
        "deleted": "DELETE FROM audit_records WHERE seq = 3",
        "inserted": "INSERT INTO audit_records SELECT seq + 1000, request_id, ts, day, tenant_id,"
        " key_id, user_id, method, endpoint, model, status, prompt_tokens, completion_tokens,"
        " latency_ms, guard, hash, hash, images FROM audit_records"
        " WHERE seq = (SELECT max(seq) FROM audit_records)",
        "truncated": "DELETE FROM audit_records WHERE seq = (SELECT max(seq) FROM audit_records)",
    }
    for name, statement in tamperings.items():
        copy = tmp_path / name
        shutil.copytree(srv.data_dir, copy)
        engine = create_engine(f"sqlite:///{copy / 'aigc.db'}")
        with engine.begin() as conn:
            assert conn.execute(text(statement)).rowcount == 1
        engine.dispose()
        result = aigc(copy, "audit", "verify")
        assert result.returncode == 1, f"{name}: {result.stdout}"


def test_backup_while_serving_restores_to_a_working_server(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", new_admin_key()).start()
    key = srv.api("POST", "/api/keys", json={"name": "kept"}).json()["key"]
    stop = threading.Event()
    sent = []

    def traffic() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                r = http.post(
                    f"{srv.base_url}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"model": MODEL, "messages": [{"role": "user", "content": "vpn"}]},
                )
                sent.append(r.status_code)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        while len(sent) < 20:
            threading.Event().wait(0.05)
        made = aigc(srv.data_dir, "backup", str(tmp_path))
        assert made.returncode == 0, made.stderr
        during = len(sent)
        while len(sent) < during + 20:  # traffic continued during and after the backup
            threading.Event().wait(0.05)
    finally:
        stop.set()
        worker.join()
        srv.stop()
    assert set(sent) == {200}
    archive = next(tmp_path.glob("*.tar.gz"))

    restored_dir = tmp_path / "restored"
    done = aigc(restored_dir, "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert aigc(restored_dir, "audit", "verify").returncode == 0

    again = Server(restored_dir, srv.admin_key).start()
    try:
        client = again.sdk(key)
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "vpn"}]
        )
        assert reply.choices[0].message.content
        keys = again.api("GET", "/api/keys").json()["data"]
        assert "kept" in [k["name"] for k in keys]
    finally:
        again.stop()
    assert aigc(restored_dir, "audit", "verify").returncode == 0
