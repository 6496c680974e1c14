"""Limits through the real HTTP path: exact under concurrency, in-process and across processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Org, Server, new_admin_key

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
