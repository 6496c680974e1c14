"""Upstream models through a live aigc server, called with the official openai SDK.

The upstream is the stub OpenAI-compatible server (tests/engine/stub_openai.py) on loopback, so
the platform admin registers it (tenant admins may not use loopback addresses).
"""

from __future__ import annotations

import secrets
from typing import Any

import openai
import pytest

from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer, free_port, words


def register(server: Server, config: dict[str, Any], key: str | None = None) -> str:
    name = f"upstream-{secrets.token_hex(4)}"
    r = server.api(
        "POST", "/api/models", key=key, json={"id": name, "config": config, "shared": True}
    )
    assert r.status_code == 201, r.text
    return name


def test_streaming_passes_through(server: Server, org_a: Org, stub: StubServer) -> None:
    name = register(server, {"base_url": stub.base_url, "model": "slow"})
    c = server.sdk(org_a.member_key)
    chunks = c.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "请回答"}], stream=True
    )
    pieces = [
        ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content
    ]
    assert "".join(pieces) == "".join(words())
    assert len(pieces) >= 10  # passed through as it trickles in, not gathered first
    reply = c.completions.create(model=name, prompt="Once upon a time", max_tokens=100)
    assert reply.choices[0].text == "".join(words())


def test_retry_and_fallback(server: Server, org_a: Org, stub: StubServer) -> None:
    c = server.sdk(org_a.member_key)
    ask = [{"role": "user", "content": "hi"}]
    flaky = register(server, {"base_url": stub.base_url, "model": "flaky-2", "max_retries": 2})
    reply = c.chat.completions.create(model=flaky, messages=ask, max_tokens=100)
    assert reply.choices[0].message.content == "".join(words())
    assert [m for m, _ in stub.calls].count("flaky-2") == 3
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with_fallback = register(
        server,
        {
            "base_url": dead,
            "model": "big",
            "max_retries": 0,
            "fallbacks": [{"base_url": stub.base_url, "model": "echo-fallback"}],
        },
    )
    reply = c.chat.completions.create(model=with_fallback, messages=ask, max_tokens=100)
    assert reply.choices[0].message.content == "".join(words())
    assert stub.calls[-1][0] == "echo-fallback"


def test_circuit_breaker_answers_503_fast(server: Server, org_a: Org) -> None:
    with StubServer() as dead:
        name = register(
            server,
            {"base_url": dead.base_url, "model": "down", "max_retries": 0, "breaker_threshold": 2},
        )
        c = server.sdk(org_a.member_key)
        ask = [{"role": "user", "content": "hi"}]
        for _ in range(2):
            with pytest.raises(openai.APIStatusError) as failed:
                c.chat.completions.create(model=name, messages=ask, max_tokens=10)
            assert failed.value.status_code == 502
        with pytest.raises(openai.APIStatusError) as refused:
            c.chat.completions.create(model=name, messages=ask, max_tokens=10)
        assert refused.value.status_code == 503
        assert int(refused.value.response.headers["retry-after"]) >= 1
        assert len(dead.calls) == 2  # the open circuit sent nothing


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://10.0.0.1/v1",
        "http://169.254.169.254/v1",
        "http://localhost/v1",
    ],
)
def test_tenant_admin_refused_internal_upstreams(server: Server, org_a: Org, url: str) -> None:
    r = server.api(
        "POST",
        "/api/models",
        key=org_a.admin_key,
        json={"id": f"upstream-{secrets.token_hex(4)}", "config": {"base_url": url, "model": "m"}},
    )
    assert r.status_code in (400, 403)
    assert r.json()["error"]["param"].startswith("config")


def test_key_encrypted_at_rest_and_never_returned(
    server: Server, org_a: Org, stub: StubServer
) -> None:
    secret = f"sk-upstream-{secrets.token_hex(16)}"
    name = register(server, {"base_url": stub.base_url, "model": "echo-keyed", "api_key": secret})
    c = server.sdk(org_a.member_key)
    c.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
    assert stub.calls[-1] == ("echo-keyed", f"Bearer {secret}")  # decrypted for the call
    assert secret not in server.api("GET", "/api/models").text
    assert secret not in server.api("GET", "/api/models", key=org_a.admin_key).text
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("aigc.db*"))
    assert stored, "the database file should exist"
    assert secret.encode() not in stored


ALLOWLIST = "/api/platform/upstream-allowlist"


def test_platform_admin_keeps_the_allow_list_tenant_admins_register_by(
    server: Server, org_a: Org
) -> None:
    public = {"base_url": "https://8.8.8.8/v1", "model": "m"}

    def register_as_tenant_admin(config: dict[str, Any]) -> Any:
        body = {"id": f"upstream-{secrets.token_hex(4)}", "config": config}
        return server.api("POST", "/api/models", key=org_a.admin_key, json=body)

    refused = register_as_tenant_admin(public)
    assert refused.status_code == 403
    assert "allow-list" in refused.json()["error"]["message"]
    # Only the platform admin changes the list; a bad pattern refuses the whole change.
    tenant_put = server.api("PUT", ALLOWLIST, key=org_a.admin_key, json={"patterns": ["https://*"]})
    assert tenant_put.status_code == 403
    bad = server.api("PUT", ALLOWLIST, json={"patterns": ["https://8.8.8.8/v1", "ftp://x.cn"]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "patterns[1]"
    assert server.api("GET", ALLOWLIST).json()["patterns"] == []
    try:
        # Normalised (scheme and host lower-case) and without duplicates.
        patterns = ["HTTPS://8.8.8.8/v1", "https://8.8.8.8/v1", "https://*.Corp.example.cn"]
        stored = server.api("PUT", ALLOWLIST, json={"patterns": patterns}).json()["patterns"]
        assert stored == ["https://8.8.8.8/v1", "https://*.corp.example.cn"]
        assert server.api("GET", ALLOWLIST, key=org_a.admin_key).json()["patterns"] == stored
        assert server.api("GET", ALLOWLIST, key=org_a.member_key).status_code == 403
        assert register_as_tenant_admin(public).status_code == 201  # effective at once
        # A pattern never lets a tenant admin reach a private address.
        server.api("PUT", ALLOWLIST, json={"patterns": ["http://*"]})
        private = register_as_tenant_admin({"base_url": "http://10.0.0.1/v1", "model": "m"})
        assert private.status_code == 403 and "not public" in private.json()["error"]["message"]
    finally:
        server.api("PUT", ALLOWLIST, json={"patterns": []})


def test_a_shared_upstreams_address_is_the_platforms_alone(
    server: Server, org_a: Org, stub: StubServer
) -> None:
    """GET /api/models/{id}/status showed every organization's members the address of a shared
    upstream (often a host on the operator's network); now only the platform admin sees it."""
    name = register(server, {"base_url": stub.base_url, "model": "echo-status"})
    reply = server.sdk(org_a.member_key).chat.completions.create(
        model=name, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content
    for key in (org_a.member_key, org_a.admin_key):
        seen = server.api("GET", f"/api/models/{name}/status", key=key)
        assert seen.status_code == 200, seen.text
        assert seen.json()["upstreams"] == [{"role": "target", "circuit": "closed"}]
        assert stub.base_url not in seen.text and "127.0.0.1" not in seen.text
    platform = server.api("GET", f"/api/models/{name}/status").json()
    assert platform["upstreams"] == [
        {"role": "target", "base_url": stub.base_url, "circuit": "closed"}
    ]
