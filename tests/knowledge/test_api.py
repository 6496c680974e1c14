"""The knowledge base over HTTP: isolation between tenants and users, grounded chat with
citations (JSON and stream), /v1/embeddings. Driven against a live server."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from aigc.knowledge.grounding import NO_DOCUMENT
from tests.e2e.server import Org, Server
from tests.templates import KB_FIXED as TEMPLATE

SECRET_DOC = (
    "# Finance\n\nThe merger with Northwind closes on 14 March; the price is 42 million euros.\n\n"
    "## Payroll\n\nSalaries are paid on the 25th of every month.\n"
)
PUBLIC_DOCS = {
    "vpn.md": "# VPN\n\nConnect to the VPN with the corporate client and your hardware token.\n",
    "printers.txt": "Printer P-204 on the second floor prints double-sided in colour.\n",
    "canteen.html": "<h1>Canteen</h1><p>The canteen serves lunch from 11:30 to 14:00.</p>",
}


def wait_job(server: Server, key: str, job: dict[str, Any] | None) -> None:
    assert job is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = server.api("GET", f"/api/jobs/{job['id']}", key=key).json()
        if state["status"] in ("succeeded", "failed", "cancelled"):
            assert state["status"] == "succeeded", state
            return
        time.sleep(0.2)
    raise AssertionError("ingestion did not finish")


def upload(server: Server, key: str, kb: str, files: dict[str, str]) -> dict[str, Any]:
    parts = [
        ("files", (name, text.encode(), "application/octet-stream")) for name, text in files.items()
    ]
    res = server.api("POST", f"/api/kb/{kb}/documents", key=key, files=parts)
    assert res.status_code == 200, res.text
    body = res.json()
    if body["job"] is not None:
        wait_job(server, key, body["job"])
    return body


def user_key(server: Server, org: Org, name: str) -> tuple[str, str]:
    user = server.api(
        "POST",
        "/api/users",
        key=org.admin_key,
        json={"username": f"{name}-{org.id}", "password": "a-long-password-1", "role": "member"},
    ).json()
    key = server.api(
        "POST",
        "/api/keys",
        key=org.admin_key,
        json={"role": "member", "name": name, "user_id": user["id"]},
    ).json()
    return user["id"], key["key"]


@dataclass
class World:
    finance_kb: str
    public_kb: str
    doc_id: str
    alice: str  # in the finance group
    bob: str  # same tenant, not in the group
    b_kb: str  # tenant B's own KB


@pytest.fixture(scope="module")
def world(server: Server, org_a: Org, org_b: Org) -> World:
    alice_id, alice = user_key(server, org_a, "alice")
    _, bob = user_key(server, org_a, "bob")
    group = server.api("POST", "/api/groups", key=org_a.admin_key, json={"name": "finance"}).json()
    server.api(
        "POST",
        f"/api/groups/{group['id']}/members",
        key=org_a.admin_key,
        json={"user_id": alice_id},
    )
    finance = server.api(
        "POST",
        "/api/kb",
        key=org_a.admin_key,
        json={"name": "finance", "access": [{"group": group["id"], "access": "read"}]},
    ).json()
    body = upload(server, org_a.admin_key, finance["id"], {"finance.md": SECRET_DOC})
    public = server.api(
        "POST", "/api/kb", key=org_a.admin_key, json={"name": "public", "dense": False}
    ).json()
    upload(server, org_a.admin_key, public["id"], PUBLIC_DOCS)
    b_kb = server.api("POST", "/api/kb", key=org_b.admin_key, json={"name": "b-kb"}).json()
    upload(server, org_b.admin_key, b_kb["id"], {"b.txt": "Tenant B keeps its own notes here."})
    made = server.api(
        "POST",
        "/api/models",
        key=org_a.admin_key,
        json={"id": "template-kb-fixed", "config": {"yaml": TEMPLATE}},
    )
    assert made.status_code == 201, made.text
    return World(finance["id"], public["id"], body["data"][0]["id"], alice, bob, b_kb["id"])


def test_a_reader_finds_the_chunk_with_scores(server: Server, world: World) -> None:
    res = server.api(
        "POST",
        f"/api/kb/{world.finance_kb}/search",
        key=world.alice,
        json={"query": "when does the Northwind merger close", "top_k": 3},
    )
    assert res.status_code == 200, res.text
    top = res.json()["data"][0]
    assert "14 March" in top["text"] and top["filename"] == "finance.md"
    assert top["headings"] == ["Finance"] and top["score"] > 0 and top["dense_score"] is not None


def test_isolation_other_tenant_and_user_without_access_see_nothing(
    server: Server, world: World, org_a: Org, org_b: Org
) -> None:
    kb, doc = world.finance_kb, world.doc_id
    outsiders = {"tenant B admin": org_b.admin_key, "bob": world.bob, "A member": org_a.member_key}
    for who, key in outsiders.items():
        listed = server.api("GET", "/api/kb", key=key).json()["data"]
        assert kb not in [k["id"] for k in listed], who
        for method, path, body in [
            ("GET", f"/api/kb/{kb}", None),
            ("POST", f"/api/kb/{kb}/search", {"query": "Northwind merger"}),
            ("GET", f"/api/kb/{kb}/documents", None),
            ("GET", f"/api/kb/{kb}/documents/{doc}", None),
            ("GET", f"/api/kb/{kb}/documents/{doc}/content", None),
            ("GET", f"/api/kb/{kb}/documents/{doc}/chunks", None),
            ("DELETE", f"/api/kb/{kb}/documents/{doc}", None),
            ("PATCH", f"/api/kb/{kb}", {"access": [{"role": "viewer", "access": "read"}]}),
            ("DELETE", f"/api/kb/{kb}", None),
        ]:
            res = server.api(method, path, key=key, json=body)
            assert res.status_code == 404, (who, method, path, res.text)
            assert "Northwind" not in res.text
        chat = server.api(
            "POST",
            "/v1/chat/completions",
            key=key,
            json={
                "model": "template-kb-fixed" if key != org_b.admin_key else "missing",
                "messages": [{"role": "user", "content": "Northwind merger price?"}],
                "knowledge_bases": [kb],
            },
        )
        assert chat.status_code == 404 and "Northwind" not in chat.text, (who, chat.text)
    # Id guessing: B's own KB with A's document id answers 404 too, and B's searches and
    # grounded chats never surface A's chunks.
    b = org_b.admin_key
    for path in (f"/documents/{doc}", f"/documents/{doc}/content", f"/documents/{doc}/chunks"):
        assert server.api("GET", f"/api/kb/{world.b_kb}{path}", key=b).status_code == 404
    hits = server.api(
        "POST",
        f"/api/kb/{world.b_kb}/search",
        key=b,
        json={
            "query": "Northwind merger price 42 million",
            "top_k": 10,
            "filters": {"document_ids": [doc]},
        },
    ).json()["data"]
    assert hits == []
    mixed = server.api(
        "POST", f"/api/kb/{world.b_kb}/search", key=b, json={"query": "Northwind"}
    ).json()["data"]
    assert all("Northwind" not in h["text"] for h in mixed)
    # The document itself is still whole for those who may read it.
    assert server.api("GET", f"/api/kb/{kb}/documents/{doc}/content", key=world.alice).text == (
        SECRET_DOC
    )
    # Embeddings take text only: no document or chunk can be named to get its vector.
    refused = server.api(
        "POST", "/v1/embeddings", key=b, json={"model": "all-MiniLM-L6-v2", "input": {"doc": doc}}
    )
    assert refused.status_code == 400


def test_grounded_chat_cites_the_chunks_it_used(server: Server, world: World, org_a: Org) -> None:
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=org_a.admin_key, max_retries=0)
    question = "Which floor is printer P-204 on?"
    answer = client.chat.completions.create(
        model="template-kb-fixed",
        messages=[{"role": "user", "content": question}],
        extra_body={"knowledge_bases": [world.public_kb]},
    )
    cited = answer.model_extra["citations"]
    assert cited and cited[0]["filename"] == "printers.txt" and cited[0]["index"] == 1
    assert {"document", "page", "chunk", "knowledge_base"} <= cited[0].keys()
    chunks = server.api(
        "GET",
        f"/api/kb/{world.public_kb}/documents/{cited[0]['document']}/chunks",
        key=org_a.admin_key,
    ).json()["data"]
    assert cited[0]["chunk"] in [c["id"] for c in chunks]
    assert "P-204" in next(c["text"] for c in chunks if c["id"] == cited[0]["chunk"])

    stream = client.chat.completions.create(
        model="template-kb-fixed",
        messages=[{"role": "user", "content": question}],
        extra_body={"knowledge_bases": [world.public_kb]},
        stream=True,
    )
    events = list(stream)
    assert events[-1].choices == [] and events[-1].model_extra["citations"] == cited

    nothing = client.chat.completions.create(
        model="template-kb-fixed",
        messages=[{"role": "user", "content": "What is the airspeed of an unladen swallow?"}],
        extra_body={"knowledge_bases": [world.public_kb]},
    )
    assert nothing.choices[0].message.content == NO_DOCUMENT["en"]
    assert nothing.model_extra["citations"] == []


def test_embeddings_endpoint_in_openai_shape(server: Server, org_b: Org) -> None:
    client = openai.OpenAI(
        base_url=f"{server.base_url}/v1", api_key=org_b.member_key, max_retries=0
    )
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=["hello world", "你好，世界"])
    assert len(out.data) == 2 and len(out.data[0].embedding) == 384
    assert out.usage.prompt_tokens > 0
    # A model the server does not serve is a 404, as on every other route (it was a 400).
    with pytest.raises(openai.NotFoundError) as unknown:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert unknown.value.code == "model_not_found"


def test_url_ingestion_refuses_internal_addresses(server: Server, world: World, org_a: Org) -> None:
    for url in ("http://127.0.0.1:1/x.html", "http://169.254.169.254/latest/meta-data/"):
        res = server.api(
            "POST",
            f"/api/kb/{world.public_kb}/documents/url",
            key=org_a.admin_key,
            json={"url": url},
        )
        assert res.status_code == 400, res.text
        error = res.json()["error"]
        assert error["code"] == "url_refused" and "is not public" in error["message"]


def test_deleting_documents_and_bases_removes_them_from_search(server: Server, org_a: Org) -> None:
    key = org_a.admin_key
    kb = server.api("POST", "/api/kb", key=key, json={"name": "temp", "dense": False}).json()["id"]
    body = upload(server, key, kb, {"a.txt": "Quarterly numbers are due Friday.", "b.txt": "x y"})
    doc = next(d["id"] for d in body["data"] if d["filename"] == "a.txt")
    search = {"query": "quarterly numbers due"}
    assert server.api("POST", f"/api/kb/{kb}/search", key=key, json=search).json()["data"]
    assert server.api("DELETE", f"/api/kb/{kb}/documents/{doc}", key=key).status_code == 200
    assert server.api("POST", f"/api/kb/{kb}/search", key=key, json=search).json()["data"] == []
    assert server.api("GET", f"/api/kb/{kb}/documents/{doc}", key=key).status_code == 404
    assert server.api("DELETE", f"/api/kb/{kb}", key=key).status_code == 200
    assert server.api("POST", f"/api/kb/{kb}/search", key=key, json=search).status_code == 404


def test_grounded_requests_never_exceed_a_keys_tpm_under_concurrency(
    server: Server, world: World, org_a: Org
) -> None:
    """The limiter reserves the grounded prompt (sources included), not the question alone:
    with room for one grounded request in the key's minute, a burst admits exactly one."""
    import asyncio

    import httpx

    ask = {
        "model": "template-kb-fixed",
        "messages": [{"role": "user", "content": "Which floor is printer P-204 on?"}],
        "max_tokens": 8,
        "knowledge_bases": [world.public_kb],
    }
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=org_a.admin_key, max_retries=0)
    probe = client.chat.completions.create(
        model=ask["model"],
        messages=ask["messages"],
        max_tokens=8,
        extra_body={"knowledge_bases": [world.public_kb]},
    )
    assert probe.usage is not None and probe.model_extra["citations"]
    need = probe.usage.prompt_tokens + 8
    tpm = need + need // 2  # one grounded request fits the minute, two do not
    key = server.api("POST", "/api/keys", key=org_a.admin_key, json={"tpm_limit": tpm}).json()

    async def burst() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {key['key']}"}
        async with httpx.AsyncClient(timeout=60) as http:
            return await asyncio.gather(
                *(
                    http.post(f"{server.base_url}/v1/chat/completions", json=ask, headers=headers)
                    for _ in range(8)
                )
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1 and statuses.count(429) == 7, statuses
    used = sum(r.json()["usage"]["total_tokens"] for r in responses if r.status_code == 200)
    assert used <= tpm
