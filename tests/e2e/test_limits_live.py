"""Limits through the real HTTP path: exact under concurrency, in-process and across processes."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import Org, Server, new_admin_key
from tests.templates import slow, words

MODEL = "template-helpdesk"


async def _burst(
    urls: list[str], key: str, count: int, body: dict[str, object]
) -> list[httpx.Response]:
    """``count`` requests at once, spread round-robin over ``urls``."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        headers = {"Authorization": f"Bearer {key}"}
        return await asyncio.gather(
            *(
                client.post(
                    f"{urls[i % len(urls)]}/v1/chat/completions", json=body, headers=headers
                )
                for i in range(count)
            )
        )


def _key(server: Server, admin_key: str, **limits: int) -> str:
    created = server.api("POST", "/api/keys", key=admin_key, json=limits)
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


HELLO = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}


def test_200_concurrent_against_50_rpm_admit_exactly_50(server: Server, org_a: Org) -> None:
    key = _key(server, org_a.admin_key, rpm_limit=50)
    responses = asyncio.run(_burst([server.base_url], key, 200, HELLO))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_error"


def test_tokens_per_minute_never_exceeded_by_concurrent_long_requests(
    server: Server, org_a: Org
) -> None:
    key = _key(server, org_a.admin_key, tpm_limit=1000)
    long_ask = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "How do I set up the VPN on my laptop?"}],
        "max_tokens": 200,
    }
    responses = asyncio.run(_burst([server.base_url], key, 40, long_ask))
    admitted = [r for r in responses if r.status_code == 200]
    assert {r.status_code for r in responses} <= {200, 429}
    prompt = admitted[0].json()["usage"]["prompt_tokens"]
    # Each admission reserves prompt + max_tokens. Answers that finish early hand back what
    # they did not use, so later requests may fit; the tokens actually used never exceed the limit.
    assert len(admitted) >= 1000 // (prompt + 200)
    used = sum(r.json()["usage"]["total_tokens"] for r in admitted)
    assert used <= 1000
    assert len(admitted) < 40
    # Settling frees what was reserved but not used, so a small request now fits again.
    small = asyncio.run(_burst([server.base_url], key, 1, {**HELLO, "max_tokens": 5}))[0]
    assert small.status_code == 200, small.text


def test_daily_budget_of_the_tenant(server: Server) -> None:
    tenant = server.api(
        "POST", "/api/tenants", json={"name": "Budget Org", "daily_token_budget": 60}
    ).json()
    key = server.api("POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "admin"}).json()[
        "key"
    ]
    responses = asyncio.run(_burst([server.base_url], key, 10, HELLO))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) == 60 // (1 + 20)
    assert refused and refused[0].json()["error"]["code"] == "insufficient_quota"


def _usage_of(server: Server, admin_key: str, key_id: str, requests: int) -> dict[str, Any]:
    """The audit's usage row of ``key_id`` once all ``requests`` are in it (written in
    batches, a moment after each answer)."""
    deadline = time.monotonic() + 30
    while True:
        rows = server.api("GET", "/api/usage?group_by=key_id", key=admin_key).json()["data"]
        row = next((r for r in rows if r["key_id"] == key_id), None)
        if row is not None and row["requests"] >= requests:
            return dict(row)
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


def test_requests_refused_for_the_daily_budget_use_no_tokens(server: Server) -> None:
    """The usage report counts what was generated. Was: each refused request's prompt too,
    and the daily budget, seeded from the audit after a restart, with it."""
    tenant = server.api(
        "POST", "/api/tenants", json={"name": "Refused Org", "daily_token_budget": 60}
    ).json()
    made = server.api("POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "admin"})
    key, key_id = made.json()["key"], made.json()["id"]
    responses = asyncio.run(_burst([server.base_url], key, 10, HELLO))
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) < 10 and {r.status_code for r in responses} == {200, 429}
    used = _usage_of(server, key, key_id, 10)
    assert used["total_tokens"] == sum(r.json()["usage"]["total_tokens"] for r in ok)


def test_a_request_refused_for_a_full_model_queue_costs_no_tokens(
    server: Server, org_a: Org
) -> None:
    """A 503 "queue full" comes after admission. Was: its reservation (prompt + max_tokens)
    was never given back, so each 503 cost the key's tokens per minute and the tenant's daily
    budget as if it had been answered in full."""
    name = f"template-gated-{secrets.token_hex(3)}"
    config = {"yaml": slow(words(20), pace_ms=100), "max_concurrency": 1, "max_queue": 0}
    made = server.api(
        "POST", "/api/models", key=org_a.admin_key, json={"id": name, "config": config}
    )
    assert made.status_code == 201, made.text
    created = server.api("POST", "/api/keys", key=org_a.admin_key, json={"tpm_limit": 1000})
    key, key_id = created.json()["key"], created.json()["id"]
    ask = {"model": name, "messages": [{"role": "user", "content": "a story"}], "max_tokens": 30}
    responses = asyncio.run(_burst([server.base_url], key, 6, ask))
    ok = [r for r in responses if r.status_code == 200]
    full = [r for r in responses if r.status_code == 503]
    assert len(ok) + len(full) == 6 and ok and full, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in full} == {"model_overloaded"}
    spent = sum(r.json()["usage"]["total_tokens"] for r in ok)
    after = asyncio.run(_burst([server.base_url], key, 1, {**HELLO, "max_tokens": 30}))[0]
    assert after.status_code == 200, after.text
    prompt = after.json()["usage"]["prompt_tokens"]
    # What is left once this request is admitted: the limit less what was answered and its
    # own reservation; nothing is held for the refused ones.
    assert int(after.headers["x-ratelimit-remaining-tokens"]) == 1000 - spent - (prompt + 30)
    used = _usage_of(server, org_a.admin_key, key_id, 7)
    assert used["total_tokens"] == spent + after.json()["usage"]["total_tokens"]


@pytest.fixture
def two_servers(tmp_path: Path, redis_url: str) -> list[Server]:
    """Two server processes sharing one database and one Redis, like a scaled-out install."""
    admin = new_admin_key()
    data = tmp_path / "data"
    first = Server(data, admin, AIGC_REDIS_URL=redis_url).start()
    second = Server(data, admin, AIGC_REDIS_URL=redis_url).start()
    yield [first, second]
    for srv in (first, second):
        srv.stop()


def test_two_processes_share_one_limit_through_redis(two_servers: list[Server]) -> None:
    first, second = two_servers
    key = _key(first, first.admin_key, rpm_limit=50)
    responses = asyncio.run(_burst([first.base_url, second.base_url], key, 200, HELLO))
    statuses = [r.status_code for r in responses]
    # Each process got 100 requests; separate limits would have admitted 100 in all.
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150


def test_two_processes_share_tokens_per_minute_through_redis(two_servers: list[Server]) -> None:
    first, second = two_servers
    key = _key(first, first.admin_key, tpm_limit=500)
    body = {**HELLO, "max_tokens": 100}
    responses = asyncio.run(_burst([first.base_url, second.base_url], key, 30, body))
    admitted = [r for r in responses if r.status_code == 200]
    assert len(admitted) >= 500 // (1 + 100)
    assert len(admitted) < 30
    assert sum(r.json()["usage"]["total_tokens"] for r in admitted) <= 500
