"""Health, readiness, metrics, request ids, graceful shutdown, and the template CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import openai

from aigc.models.text.template import HELPDESK_PATH
from tests.e2e.server import Org, Server, new_admin_key
from tests.templates import SLOW


def test_health_ready_metrics_and_request_ids(server: Server, org_a: Org) -> None:
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base_url}/readyz").json()
    assert ready["status"] == "ready" and ready["checks"]["database"] == "ok"
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=org_a.member_key)
    list(
        client.chat.completions.create(
            model="template-helpdesk", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    metrics = httpx.get(f"{server.base_url}/metrics").text
    for name in (
        "aigc_requests_total",
        "aigc_request_latency_seconds_bucket",
        "aigc_tokens_total",
        "aigc_active_streams",
    ):
        assert name in metrics
    assert 'route="/v1/chat/completions"' in metrics
    mine = httpx.get(f"{server.base_url}/healthz", headers={"x-request-id": "trace-123"})
    assert mine.headers["x-request-id"] == "trace-123"
    fresh = httpx.get(f"{server.base_url}/v1/models")
    assert fresh.status_code == 401 and fresh.headers["x-request-id"].startswith("req_")
    unknown = httpx.get(f"{server.base_url}/v1/nothing-here")
    assert unknown.status_code == 404 and set(unknown.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }


def test_graceful_shutdown_finishes_in_flight_streams(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", new_admin_key()).start()
    made = srv.api("POST", "/api/models", json={"id": "template-slow", "config": {"yaml": SLOW}})
    assert made.status_code == 201, made.text
    client = srv.sdk(srv.admin_key)
    stream = client.chat.completions.create(
        model="template-slow", messages=[{"role": "user", "content": "a story"}], stream=True
    )
    pieces = []
    stopper: threading.Thread | None = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if len(pieces) == 5 and stopper is None:  # mid-stream: ask the server to stop
            assert srv.proc is not None
            srv.proc.send_signal(signal.SIGTERM)
            stopper = threading.Thread(target=srv.proc.wait)
            stopper.start()
    finish = chunk.choices[0].finish_reason if chunk.choices else None
    assert finish == "stop"
    assert "".join(pieces).split() == [f"word{i}" for i in range(80)]
    assert stopper is not None
    stopper.join(30)
    assert srv.proc is not None and srv.proc.poll() is not None
    assert "aigc stopped" in srv.logs()


def test_validate_template_cli(tmp_path: Path) -> None:
    def validate(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aigc.cli", "models", "validate-template", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "AIGC_DATA_DIR": str(tmp_path / "data")},
        )

    good = validate(HELPDESK_PATH)
    assert good.returncode == 0, good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(SLOW.replace("['story']", "['(unclosed']"), encoding="utf-8")
    result = validate(bad)
    assert result.returncode == 1
    assert "intents[0] (story).patterns[0]" in result.stderr
