"""Clients that hang up mid-stream give back everything their stream held: the streaming soak's
phase 2 (bench/soak.py) at the size of a test. A paced template model with a concurrency gate of
two places and no queue, a key whose tokens-per-minute limit holds only two unsettled
reservations: if a hang-up left its place, its gauge or its reservation behind, the request
after it would be refused (503 or 429)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import Server, make_org, new_admin_key
from tests.templates import SLOW, WORDS

MODEL = "template-slow"
MAX_TOKENS = 100
BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "a story"}],
    "stream": True,
    "max_tokens": MAX_TOKENS,
}


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("disconnect") / "data", new_admin_key()).start()
    yield srv
    srv.stop()


def metric(server: Server, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    families = text_string_to_metric_families(httpx.get(f"{server.base_url}/metrics").text)
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in families
        for s in family.samples
        if s.name == name
    }


def hang_up_after(server: Server, key: str, pieces: int) -> int:
    """Stream, read ``pieces`` content events, then close the connection; the status code."""
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{server.base_url}/v1/chat/completions",
            json=BODY,
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        seen = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content": "' in line and '"content": ""' not in line:
                seen += 1
                if seen == pieces:
                    break
        return response.status_code  # leaving both blocks closes the connection mid-stream


def wait_for_idle(server: Server, key: str) -> tuple[float, dict[str, int]]:
    """``aigc_active_streams`` and the model's gate once both are idle, or at the deadline."""
    deadline = time.monotonic() + 20
    while True:
        active = sum(metric(server, "aigc_active_streams").values())
        gate = server.api("GET", f"/api/models/{MODEL}/status", key=key).json()["concurrency"]
        if (active == 0 and gate["active"] == 0) or time.monotonic() > deadline:
            return active, gate
        time.sleep(0.05)


def test_hanging_up_mid_stream_frees_the_gate_the_gauge_and_the_reservation(
    server: Server,
) -> None:
    org = make_org(server, "Disconnect")
    config = {"yaml": SLOW, "max_concurrency": 2, "max_queue": 0}
    made = server.api(
        "POST", "/api/models", key=org.admin_key, json={"id": MODEL, "config": config}
    )
    assert made.status_code == 201, made.text
    # Each request reserves its prompt + 100 tokens: two fit, a third only once they settled.
    key = server.api(
        "POST",
        "/api/keys",
        json={"tenant_id": org.id, "role": "member", "tpm_limit": 250, "rpm_limit": 100},
    ).json()["key"]

    for pieces in (1, 3, 5, 1, 3, 5):  # more hang-ups than the gate has places
        assert hang_up_after(server, key, pieces) == 200
        active, gate = wait_for_idle(server, org.admin_key)
        assert active == 0
        assert gate == {"max_concurrency": 2, "max_queue": 0, "active": 0, "waiting": 0}

    # The same key, right after: a whole answer, neither 429 (reservations) nor 503 (places).
    reply = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        json=BODY | {"stream": False},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == WORDS
    statuses = {dict(labels)["status"] for labels in metric(server, "aigc_requests_total")}
    assert not any(s.startswith("5") for s in statuses)
