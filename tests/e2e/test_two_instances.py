"""Two `aigc serve` instances on one PostgreSQL and one Redis, behind a real nginx (issue 20).

Where the point is "done at A, seen at B" the test talks to A and B directly; everything else
goes through nginx, as a client would. The cluster (tests/e2e/cluster.py) gives each instance
its own data directory, so nothing can pass between them on a local disk.

The knowledge-base and training tests need the shared storage and the knowledge base on
PostgreSQL (issue 20's storage and pgvector parts): without them they fail, as they should.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from tests import services
from tests.e2e.cluster import Cluster, create_database, drop_database, start_cluster
from tests.e2e.server import Org, Server, make_org
from tests.engine.stub_openai import StubServer

MODEL = "template-helpdesk"
HELLO = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}
POLL_S = 0.05
SEEN_WITHIN_S = 2.0  # issue 20: what is done at A is seen at B within 2 s
PACED = "template-paced"
PACED_WORDS = 24
PACED_YAML = f"""
name: paced
languages: [en, zh]
pace_ms: 100
intents:
  - id: any
    patterns: ['.']
    answers:
      en: [{json.dumps(" ".join(f"word{i}" for i in range(PACED_WORDS)))}]
      zh: [{json.dumps("，".join(f"第{i}步" for i in range(PACED_WORDS)))}]
fallback:
  en: ['?']
  zh: ['？']
"""


@pytest.fixture(scope="module")
def cluster(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """One cluster for the module, on a database and a Redis database of its own."""
    if services.nginx_binary() is None:
        pytest.skip("nginx is not installed (no nginx on PATH or in /usr/sbin)")
    database = create_database(postgres_server)
    redis_url = redis_server.rsplit("/", 1)[0] + "/7"
    _flush_redis(redis_url)
    try:
        running = start_cluster(tmp_path_factory.mktemp("cluster"), database, redis_url)
    except BaseException:
        drop_database(postgres_server, database)
        raise
    yield running
    running.stop()
    drop_database(postgres_server, database)
    _flush_redis(redis_url)


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="module")
def org(cluster: Cluster) -> Org:
    """An organization with an admin and a member key, made at A."""
    return make_org(cluster.a, f"Cluster Org {secrets.token_hex(3)}")


def _client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)


def _key(server: Server, admin_key: str, **fields: Any) -> dict[str, Any]:
    created = server.api("POST", "/api/keys", key=admin_key, json={"role": "member", **fields})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _chat(base_url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json=HELLO,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def _ports(cluster: Cluster) -> dict[str, str]:
    return {f"127.0.0.1:{cluster.a.port}": "a", f"127.0.0.1:{cluster.b.port}": "b"}


# --- the balancer ---------------------------------------------------------------------------


def test_nginx_spreads_the_api_over_both_instances(cluster: Cluster, org: Org) -> None:
    client = _client(cluster.base_url, org.member_key)
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "打印机卡纸了"}]
                ),
                range(12),
            )
        )
    assert all("打印机" in (a.choices[0].message.content or "") for a in answers)
    served = [
        _ports(cluster).get(entry[3])
        for entry in cluster.nginx.access_log()
        if entry[1] == "/v1/chat/completions"
    ]
    assert {"a", "b"} <= set(served), served


def test_a_stream_through_nginx_arrives_as_it_is_generated(cluster: Cluster, org: Org) -> None:
    """Proxy buffering is off: the chunks of a paced answer (100 ms a word) arrive spread over
    its generation, not all at once when it ends (nginx would hold up to a buffer's worth)."""
    made = cluster.api(
        "POST", "/api/models", key=org.admin_key, json={"id": PACED, "config": {"yaml": PACED_YAML}}
    )
    assert made.status_code == 201, made.text
    client = _client(cluster.base_url, org.member_key)
    arrivals: list[float] = []
    pieces: list[str] = []
    for chunk in client.chat.completions.create(
        model=PACED, messages=[{"role": "user", "content": "怎么连接 VPN？"}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
            pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces).startswith("第0步")
    assert len(arrivals) >= PACED_WORDS // 2
    # 24 words at 100 ms: buffered, they would all land within a few milliseconds.
    assert arrivals[-1] - arrivals[0] >= 1.0


def test_the_api_keeps_its_error_shape_when_no_instance_answers(tmp_path: Path) -> None:
    """nginx answering itself (both instances down) still speaks the API's error envelope."""
    binary = services.nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (no nginx on PATH or in /usr/sbin)")
    dead = [f"127.0.0.1:{services.free_port()}" for _ in range(2)]
    nginx = services.Nginx(binary, dead).start()
    try:
        client = _client(nginx.url, "sk-aigc-" + "x" * 32)
        with pytest.raises(openai.InternalServerError) as refused:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
        assert refused.value.status_code == 503
        assert refused.value.response.headers["retry-after"] == "5"
        assert refused.value.response.headers["x-request-id"].startswith("req_")
        error = refused.value.response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "overloaded"
    finally:
        nginx.stop()


# --- done at A, seen at B -------------------------------------------------------------------


def test_a_key_revoked_on_a_is_refused_by_b_within_2_s(
    cluster: Cluster, org: Org, record_property: Callable[[str, object], None]
) -> None:
    key = _key(cluster.a, org.admin_key, name="short-lived")
    assert _chat(cluster.b.base_url, key["key"]).status_code == 200  # B has it cached now
    revoked = cluster.a.api("DELETE", f"/api/keys/{key['id']}", key=org.admin_key)
    assert revoked.status_code == 200, revoked.text
    revoked_at = time.monotonic()
    assert _chat(cluster.a.base_url, key["key"]).status_code == 401  # at once where it was done
    while True:
        sent = time.monotonic()
        answer = _chat(cluster.b.base_url, key["key"])
        if answer.status_code == 401:
            break
        assert answer.status_code == 200, answer.text
        assert sent - revoked_at <= SEEN_WITHIN_S + POLL_S, "B still takes the revoked key"
        time.sleep(POLL_S)
    # B cached the key before the revocation, so its entry expires at most 2 s after it; the
    # request that saw the refusal was sent by then (how long it then took is the machine's).
    lag = sent - revoked_at
    record_property("revocation_seen_by_b_s", round(lag, 3))
    print(f"revocation seen by B after {lag:.3f} s")
    assert lag <= SEEN_WITHIN_S + POLL_S
    assert answer.json()["error"]["code"] == "revoked_api_key"
    assert _chat(cluster.base_url, key["key"]).status_code == 401  # through nginx too


def test_requests_per_minute_are_exact_across_both_instances(cluster: Cluster, org: Org) -> None:
    """A key allowed 8 requests a minute, asked 20 times alternating A and B: the first 8 pass,
    every one after is a 429 with Retry-After. Then 30 at once through nginx for a fresh key."""
    key = _key(cluster.a, org.admin_key, rpm_limit=8)["key"]
    statuses = []
    for i in range(20):
        answer = _chat((cluster.a, cluster.b)[i % 2].base_url, key)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) >= 1
            assert answer.json()["error"]["type"] == "rate_limit_error"
    assert statuses == [200] * 8 + [429] * 12

    burst_key = _key(cluster.b, org.admin_key, rpm_limit=10)["key"]
    with ThreadPoolExecutor(10) as pool:
        burst = list(pool.map(lambda _: _chat(cluster.base_url, burst_key).status_code, range(30)))
    assert burst.count(200) == 10 and burst.count(429) == 20


def test_tokens_per_minute_are_exact_across_both_instances(cluster: Cluster, org: Org) -> None:
    key = _key(cluster.a, org.admin_key, tpm_limit=200)["key"]
    admitted = []
    for i in range(12):
        answer = _chat((cluster.a, cluster.b)[i % 2].base_url, key)
        assert answer.status_code in (200, 429), answer.text
        if answer.status_code == 200:
            admitted.append(answer.json()["usage"]["total_tokens"])
        else:
            assert int(answer.headers["retry-after"]) >= 1
    # Each admission reserves prompt + 20; what was used never exceeds the limit.
    assert 200 // 21 <= len(admitted) < 12
    assert sum(admitted) <= 200


def test_audit_chain_verifies_after_traffic_through_both(cluster: Cluster, org: Org) -> None:
    for base_url in (cluster.a.base_url, cluster.b.base_url, cluster.base_url) * 3:
        assert _chat(base_url, org.member_key).status_code == 200
    deadline = time.monotonic() + 30
    engine = create_engine(cluster.shared["AIGC_DATABASE_URL"])
    try:
        while True:  # each instance writes its records from a background thread, in batches
            with engine.connect() as conn:
                written = conn.execute(text("SELECT count(*) FROM audit_records")).scalar_one()
            if written >= 9 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert written >= 9
    verified = cluster.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout


# --- the console through nginx --------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium for this module only (closed before any later test runs asyncio)."""
    from tests.e2e.console.conftest import chromium

    with chromium() as launched:
        yield launched


def test_the_console_signs_in_and_streams_a_chat_answer_through_nginx(
    cluster: Cluster, org: Org, browser: Any
) -> None:
    from tests.e2e.console.conftest import add_user, shot, sign_in

    if cluster.api("GET", f"/v1/models/{PACED}", key=org.admin_key).status_code == 404:
        made = cluster.api(
            "POST",
            "/api/models",
            key=org.admin_key,
            json={"id": PACED, "config": {"yaml": PACED_YAML}},
        )
        assert made.status_code == 201, made.text
    person = add_user(cluster.a, org, "member")
    context = browser.new_context(base_url=cluster.base_url, locale="zh-CN")
    context.set_default_timeout(30_000)
    sockets: list[str] = []
    try:
        page = context.new_page()
        page.on("websocket", lambda ws: sockets.append(ws.url))
        sign_in(page, person, "/chat")
        page.get_by_test_id("chat-model").click()
        page.get_by_role("option", name=PACED, exact=True).click()
        page.get_by_test_id("chat-input").fill("怎么连接 VPN？")
        page.get_by_test_id("chat-send").click()
        answer = page.get_by_test_id("chat-answer").first
        page.wait_for_function(
            "el => el.innerText.includes('第2步')", arg=answer.element_handle(), timeout=30_000
        )
        early = len(answer.inner_text())
        page.get_by_test_id("chat-thumb-up").first.wait_for()  # finished
        final = answer.inner_text()
        assert len(final) > early  # it grew on the page while streaming
        assert final.strip().endswith(f"第{PACED_WORDS - 1}步")
        shot(page, "cluster-chat")
    finally:
        context.close()
    # The page's socket.io ran over a WebSocket through nginx, on the instance that rendered
    # the page (sticky sessions): NiceGUI keeps the page's state in that process.
    host = urlsplit(cluster.base_url).netloc
    assert any(url.startswith(f"ws://{host}/_nicegui_ws/socket.io/") for url in sockets), sockets
    deadline = time.monotonic() + 10
    while True:  # nginx logs a WebSocket when it closes, which the browser just did
        log = cluster.nginx.access_log()
        upgraded = [e for e in log if e[1].startswith("/_nicegui_ws/") and e[2] == "101"]
        if upgraded or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert upgraded, log[-20:]
    # Each page's socket reaches an instance that rendered a page: the sign-in page is keyed on
    # the client's address (no session cookie yet) and the chat page on the session cookie, so
    # the two pages (and their sockets) may be on different instances; a socket on an instance
    # that rendered no page would mean the balancer is not sticky (the chat above would not
    # have streamed either: NiceGUI's handshake fails on the other instance).
    page_views = [e for e in log if e[0] == "GET" and e[1] in ("/login", "/chat") and e[2] == "200"]
    assert {e[3] for e in upgraded} <= {e[3] for e in page_views}, log[-20:]


# --- needs the shared storage and the knowledge base on PostgreSQL (issue 20) ---------------


def _wait_job(server: Server, key: str, job: dict[str, Any] | None) -> dict[str, Any]:
    assert job is not None
    done = server.wait_job(key, job["id"])
    assert done["status"] == "succeeded", done
    return done


def test_a_document_ingested_through_a_is_searched_and_cited_through_b(
    cluster: Cluster, org: Org, record_property: Callable[[str, object], None]
) -> None:
    key = org.admin_key
    kb = cluster.a.api("POST", "/api/kb", key=key, json={"name": "差旅 handbook"})
    assert kb.status_code == 201, kb.text
    kb_id = kb.json()["id"]
    # B answers a search once before the document exists (its embedding model loaded), so the
    # 2 s below measure how long the document takes to reach B, not B's first start.
    warm = cluster.b.api("POST", f"/api/kb/{kb_id}/search", key=key, json={"query": "预热"})
    assert warm.status_code == 200, warm.text
    doc = "# 差旅管理办法\n\n员工出差期间，伙食补贴标准为每人每天一百二十元（code QX-7731）。\n"
    other = "# 信息安全规范\n\n收到钓鱼邮件时，应立即转发给信息安全团队。\n"
    files = [
        ("files", ("差旅管理办法.md", doc.encode(), "text/markdown")),
        ("files", ("信息安全规范.md", other.encode(), "text/markdown")),
    ]
    added = cluster.a.api("POST", f"/api/kb/{kb_id}/documents", key=key, files=files)
    assert added.status_code == 200, added.text
    _wait_job(cluster.a, key, added.json()["job"])
    ingested_at = time.monotonic()
    while True:
        sent = time.monotonic()
        hits = cluster.b.api(
            "POST", f"/api/kb/{kb_id}/search", key=key, json={"query": "出差 伙食补贴 每天多少"}
        )
        assert hits.status_code == 200, hits.text
        if hits.json()["data"] and hits.json()["data"][0]["filename"] == "差旅管理办法.md":
            break
        # A search sent 2 s after the job ended must find the document.
        assert sent - ingested_at <= SEEN_WITHIN_S, hits.json()
        time.sleep(POLL_S)
    record_property("kb_seen_by_b_s", round(sent - ingested_at, 3))
    with StubServer() as stub:
        model = stub.register(cluster.a, model="cite-1")
        reply = _client(cluster.b.base_url, key).chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "出差期间的餐费补助是多少？"}],
            extra_body={"knowledge_bases": [kb_id]},
        )
    cited = reply.model_extra["citations"]
    assert [c["filename"] for c in cited] == ["差旅管理办法.md"]
    chunks = cluster.b.api(
        "GET", f"/api/kb/{kb_id}/documents/{cited[0]['document']}/chunks", key=key
    ).json()["data"]
    assert cited[0]["chunk"] in [c["id"] for c in chunks]
    assert "QX-7731" in " ".join(c["text"] for c in chunks)


TRAINING_TEXT = (
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。\n"
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n"
) * 20


def _local_models(cluster: Cluster) -> set[Path]:
    return {p for server in cluster.instances for p in (server.data_dir / "models").glob("*")}


def test_a_model_trained_through_a_is_served_by_b(cluster: Cluster, org: Org) -> None:
    """Whichever instance ran the job, both serve the model. On one machine an instance could
    read the other's data directory by its absolute path, which two machines cannot: what the
    job left in the instances' own data directories is removed before asking (a cache may be
    dropped at any time; the model's files must be in the shared storage)."""
    key = org.admin_key
    before = _local_models(cluster)
    uploaded = cluster.a.api(
        "POST",
        "/v1/files",
        key=key,
        files={"file": ("poems.txt", TRAINING_TEXT.encode(), "text/plain")},
        data={"purpose": "user_data"},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    name = f"ngram-cluster-{secrets.token_hex(3)}"
    body = {
        "family": "ngram",
        "name": name,
        "file_ids": [uploaded.json()["id"]],
        "params": {"order": 3, "tokenizer": "char", "val_fraction": 0.0},
    }
    started = cluster.a.api("POST", "/api/train", key=key, json=body)
    assert started.status_code == 202, started.text
    _wait_job(cluster.a, key, started.json()["job"])  # run by whichever instance claimed it
    for left in _local_models(cluster) - before:
        shutil.rmtree(left) if left.is_dir() else left.unlink()
    ask = {"model": name, "prompt": "床前", "max_tokens": 12, "seed": 3}
    texts = {}
    for label, server in (("b", cluster.b), ("a", cluster.a)):
        deadline = time.monotonic() + SEEN_WITHIN_S
        while True:
            listed = server.api("GET", f"/v1/models/{name}", key=key)
            if listed.status_code == 200 and listed.json().get("status") == "ready":
                break
            assert time.monotonic() < deadline, listed.text
            time.sleep(POLL_S)
        texts[label] = _client(server.base_url, key).completions.create(**ask).choices[0].text
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in texts["b"]) >= 3, texts
    assert texts["a"] == texts["b"]  # the same model files, wherever the job ran


def test_50_documents_ingested_at_once_through_both_are_indexed_exactly_once(
    cluster: Cluster, org: Org
) -> None:
    key = org.admin_key
    made = cluster.api("POST", "/api/kb", key=key, json={"name": f"并发 {secrets.token_hex(2)}"})
    assert made.status_code == 201, made.text
    kb_id = made.json()["id"]
    codes = [f"ZX{secrets.token_hex(4).upper()}" for _ in range(50)]

    def upload(i: int) -> dict[str, Any]:
        server = (cluster.a, cluster.b)[i % 2]
        content = f"# 文档 {i}\n\nDocument {i} holds the unique code {codes[i]}. 第{i}号文件。\n"
        answer = server.api(
            "POST",
            f"/api/kb/{kb_id}/documents",
            key=key,
            files=[("files", (f"doc-{i:02d}.md", content.encode(), "text/markdown"))],
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    start = threading.Barrier(10)

    def upload_after_barrier(i: int) -> dict[str, Any]:
        if i < 10:
            start.wait()
        return upload(i)

    with ThreadPoolExecutor(10) as pool:
        uploads = list(pool.map(upload_after_barrier, range(50)))
    for i, answer in enumerate(uploads):
        _wait_job((cluster.a, cluster.b)[i % 2], key, answer["job"])

    documents = cluster.b.api("GET", f"/api/kb/{kb_id}/documents", key=key).json()["data"]
    assert sorted(d["filename"] for d in documents) == [f"doc-{i:02d}.md" for i in range(50)]
    engine = create_engine(cluster.shared["AIGC_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT document_id, ordinal, text FROM kb_chunks WHERE kb_id = :kb"),
                {"kb": kb_id},
            ).all()
    finally:
        engine.dispose()
    places = [(row.document_id, row.ordinal) for row in rows]
    assert len(places) == len(set(places)), "a chunk was stored twice"
    assert {row.document_id for row in rows} == {d["id"] for d in documents}
    for code in codes:  # each in exactly one chunk, and found once by search through either
        assert sum(code in row.text for row in rows) == 1, code
    for i, code in enumerate(codes):
        server = (cluster.b, cluster.a)[i % 2]
        hits = server.api(
            "POST",
            f"/api/kb/{kb_id}/search",
            key=key,
            json={"query": code, "mode": "keyword", "top_k": 10},
        ).json()["data"]
        holding = [h for h in hits if code in h["text"]]
        assert len(holding) == 1, (code, hits)
        assert holding[0]["filename"] == f"doc-{i:02d}.md"
