"""The batching engine behind the HTTP API: an HF checkpoint registered with ``config.engine``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.server import Server, new_admin_key
from tests.engine.tiny_lm import save_tiny_gpt2

MODEL = "hf-tiny-engine"


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("models")
    save_tiny_gpt2(root / "tiny")
    data = tmp_path_factory.mktemp("engine-server") / "data"
    srv = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    config = {"path": str(root / "tiny"), "engine": {"max_running": 8, "max_queue": 16}}
    made = srv.api("POST", "/api/models", json={"id": MODEL, "config": config, "shared": True})
    assert made.status_code == 201, made.text
    yield srv
    srv.stop()


def ask(server: Server, text: str) -> str:
    reply = server.sdk().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], temperature=0, max_tokens=16
    )
    return reply.choices[0].message.content or ""


def test_concurrent_greedy_equals_alone_over_http(engine_server: Server) -> None:
    questions = [f"question {i}: 你好 {i * 7}" for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: ask(engine_server, q), questions))
    alone = [ask(engine_server, q) for q in questions]
    assert together == alone
    assert len(set(together)) > 1  # different prompts, different answers


def test_disconnect_leaves_the_batch_and_status_shows_it(engine_server: Server) -> None:
    stream = engine_server.sdk().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "a long story"}],
        temperature=0,
        max_tokens=200,  # within the 256-token context with the prompt (else a 400)
        stream=True,
        extra_body={"min_tokens": 200},
    )
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()  # the client goes away mid-stream
    path = f"/api/models/{MODEL}/status"
    deadline = time.monotonic() + 20
    status = engine_server.api("GET", path).json()
    while status["engine"]["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
        status = engine_server.api("GET", path).json()
    assert status["engine"]["running"] == 0 and status["engine"]["waiting"] == 0
    assert status["loaded"] is True and status["device"] in ("cpu", "cuda:0")
    # which passes run it and in what precision
    assert status["engine"]["passes"] == "gpt2"
    cpu = status["device"] == "cpu"
    assert status["engine"]["weights"] in (("fp32",) if cpu else ("bf16", "fp32"))
    assert status["engine"]["prefix_cached_tokens"] >= 0
    assert status["engine"]["generated_tokens"] < 250 + 8 * 16 * 2  # not run to the end
    metrics = httpx.get(f"{engine_server.base_url}/metrics").text
    for name in (
        "aigc_engine_generated_tokens_total",
        "aigc_engine_time_to_first_token_seconds",
        "aigc_engine_inter_token_latency_seconds",
        "aigc_engine_kv_cache_usage",
        "aigc_engine_queue_depth",
        "aigc_engine_running_batch",
    ):
        assert name in metrics


def test_status_of_another_tenants_model_is_404(engine_server: Server) -> None:
    tenant = engine_server.api("POST", "/api/tenants", json={"name": "Other"}).json()
    key = engine_server.api(
        "POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "admin", "name": "a"}
    ).json()["key"]
    yaml = (
        "name: own\nlanguages: [en]\nintents:\n  - id: hi\n    patterns: ['hi']\n"
        "    answers: {en: ['Hello.']}\nfallback: {en: ['Hi.']}\n"
    )
    made = engine_server.api(
        "POST", "/api/models", key=key, json={"id": "template-own", "config": {"yaml": yaml}}
    )
    assert made.status_code == 201, made.text
    assert engine_server.api("GET", "/api/models/template-own/status", key=key).status_code == 200
    assert engine_server.api("GET", "/api/models/template-own/status").status_code == 404
