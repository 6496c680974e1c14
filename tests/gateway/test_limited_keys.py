"""What a key limited to models, rates or a date may change, judged route by route (in process).

Every /api and /v1 route that changes state is in ``JUDGED`` with what a limited admin key
gets there (docs/security.md, "What a limited key may do"); a new route fails
``test_every_state_changing_route_is_judged`` until it is judged here. The routes that would
widen someone's access refuse such a key with a 403 naming the reason, tried one by one below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from aigc.infra.schema import ApiKey
from tests.templates import ECHO

pytestmark = pytest.mark.anyio

REFUSED = "refused to a limited key (tried in test_a_limited_admin_key_widens_no_one)"
PLATFORM = "the platform administrator's: no key a route makes is a platform key"
WITHIN = "within its limits: the model named is checked against allowed_models and charged"
LIMITED, NOT_ALLOWED, DENIED = "limited_api_key", "model_not_allowed", "permission_denied"
NARROWS = "only narrows what someone may do, or acts on what the caller already may"

JUDGED: dict[tuple[str, str], str] = {
    ("POST", "/v1/chat/completions"): WITHIN,
    ("POST", "/v1/completions"): WITHIN,
    ("POST", "/v1/responses"): WITHIN,
    ("POST", "/v1/responses/input_tokens"): WITHIN,
    ("POST", "/v1/embeddings"): WITHIN,
    ("POST", "/v1/moderations"): WITHIN,
    ("POST", "/v1/images/generations"): WITHIN,
    ("POST", "/v1/images/edits"): WITHIN,
    ("POST", "/v1/images/variations"): WITHIN,
    ("POST", "/api/images/interpolate"): WITHIN,
    ("POST", "/api/images/arithmetic"): WITHIN,
    ("POST", "/api/images/caption"): WITHIN,
    ("POST", "/api/images/embeddings"): WITHIN,
    ("POST", "/api/images/classify"): WITHIN,
    ("POST", "/api/watermark/detect"): WITHIN,
    ("DELETE", "/v1/responses/{response_id}"): NARROWS,
    ("POST", "/api/provenance/verify"): "reads a signature: changes nothing",
    ("POST", "/api/feedback"): "a rating of an answer: gives no one anything",
    ("POST", "/v1/files"): "an upload of the caller's: gives no one anything",
    ("DELETE", "/v1/files/{file_id}"): NARROWS,
    ("POST", "/api/jobs/{job_id}/cancel"): NARROWS,
    ("POST", "/api/conversations"): "the caller's own conversations",
    ("PATCH", "/api/conversations/{conversation_id}"): "the caller's own conversations",
    ("DELETE", "/api/conversations/{conversation_id}"): NARROWS,
    ("POST", "/api/conversations/{conversation_id}/messages"): "the caller's own conversations",
    ("PUT", "/api/conversations/{conversation_id}/messages/{message_id}/rating"): (
        "the caller's own conversations"
    ),
    ("POST", "/api/kb"): "a new knowledge base holds only what the caller puts in it",
    ("PATCH", "/api/kb/{kb_id}"): REFUSED + ": its access list",
    ("DELETE", "/api/kb/{kb_id}"): NARROWS,
    ("POST", "/api/kb/{kb_id}/documents"): "adds what the caller uploads",
    ("POST", "/api/kb/{kb_id}/documents/url"): "adds what the caller fetches",
    ("DELETE", "/api/kb/{kb_id}/documents/{doc_id}"): NARROWS,
    ("POST", "/api/kb/{kb_id}/search"): "reads what the caller may read",
    ("POST", "/api/users"): REFUSED + ": it always sets a password",
    ("PATCH", "/api/users/{user_id}"): REFUSED + ": a higher role, enabling, a password",
    ("DELETE", "/api/users/{user_id}"): NARROWS,
    ("POST", "/api/groups"): "a new group is empty and grants nothing",
    ("DELETE", "/api/groups/{group_id}"): NARROWS,
    ("POST", "/api/groups/{group_id}/members"): REFUSED,
    ("DELETE", "/api/groups/{group_id}/members/{user_id}"): NARROWS,
    ("POST", "/api/keys"): REFUSED + ": a key wider than the caller's",
    ("DELETE", "/api/keys/{key_id}"): NARROWS,
    ("POST", "/api/models"): REFUSED + ": a model outside allowed_models",
    ("DELETE", "/api/models/{model}"): REFUSED + ": a model outside allowed_models",
    ("POST", "/api/train"): REFUSED + ": a model outside allowed_models",
    ("POST", "/api/policies"): REFUSED,
    ("DELETE", "/api/policies/{name}"): REFUSED,
    ("POST", "/api/tenants"): PLATFORM,
    ("PATCH", "/api/tenants/{tenant_id}"): PLATFORM,
    ("DELETE", "/api/tenants/{tenant_id}"): PLATFORM,
    ("PUT", "/api/platform/upstream-allowlist"): PLATFORM,
    ("POST", "/api/tenants/{tenant_id}/sso/providers"): PLATFORM,
    ("PATCH", "/api/tenants/{tenant_id}/sso/providers/{provider_id}"): PLATFORM,
    ("DELETE", "/api/tenants/{tenant_id}/sso/providers/{provider_id}"): PLATFORM,
    ("POST", "/api/tenants/{tenant_id}/sso/providers/{provider_id}/test"): PLATFORM,
    ("POST", "/api/tenants/{tenant_id}/sso/providers/{provider_id}/preview"): PLATFORM,
}


def _changing_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every /api and /v1 route that is not a plain read."""
    found = set()
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if method.upper() not in ("GET", "HEAD", "OPTIONS"):
                found.add((method.upper(), path))
    return {(m, p) for m, p in found if p.startswith(("/api/", "/v1/"))}


async def test_every_state_changing_route_is_judged(app: FastAPI) -> None:
    """A route that changes state is judged for limited keys here, or this fails naming it."""
    served = _changing_routes(app)
    assert sorted(served - JUDGED.keys()) == [], "judge these routes for limited keys"
    assert sorted(JUDGED.keys() - served) == [], "these routes are gone: remove them here"


@dataclass
class Place:
    """What the attempts act on, made by the unlimited platform key."""

    member: str
    disabled: str
    group: str
    kb: str


async def _place(api: httpx.AsyncClient) -> Place:
    async def made(path: str, body: dict[str, Any]) -> str:
        reply = await api.post(path, json=body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    member = await made("/api/users", {"username": "li.na", "password": "x" * 10})
    disabled = await made("/api/users", {"username": "former", "password": "x" * 10})
    assert (await api.patch(f"/api/users/{disabled}", json={"disabled": True})).status_code == 200
    group = await made("/api/groups", {"name": "finance"})
    kb = await made("/api/kb", {"name": "Payroll 工资"})
    await made("/api/models", {"id": "template-echo", "config": {"yaml": ECHO}})
    await made("/api/models", {"id": "template-kept", "config": {"yaml": ECHO}})
    return Place(member, disabled, group, kb)


def _attempts(p: Place) -> list[tuple[str, str, dict[str, Any] | None, str | None, str]]:
    """(method, path, body, param, code) of each widening a limited admin key tries."""
    every = [{"role": "viewer", "access": "manage"}]
    mine = {"id": "template-mine", "config": {"yaml": ECHO}}
    trained = {"family": "gpt", "name": "gpt-mine", "file_ids": ["file-x"]}
    return [
        ("PATCH", f"/api/users/{p.member}", {"role": "admin"}, "role", LIMITED),
        ("PATCH", f"/api/users/{p.disabled}", {"disabled": False}, "disabled", LIMITED),
        ("PATCH", f"/api/users/{p.member}", {"password": "x" * 12}, "password", LIMITED),
        ("POST", "/api/users", {"username": "mine", "password": "x" * 12}, "password", LIMITED),
        ("POST", f"/api/groups/{p.group}/members", {"user_id": p.member}, "user_id", LIMITED),
        ("PATCH", f"/api/kb/{p.kb}", {"access": every}, "access", LIMITED),
        ("POST", "/api/policies", {"yaml": "name: off\n"}, None, LIMITED),
        ("DELETE", "/api/policies/default", None, None, LIMITED),
        ("POST", "/api/models", mine, "id", NOT_ALLOWED),
        ("DELETE", "/api/models/template-kept", None, "model", NOT_ALLOWED),
        ("POST", "/api/train", trained, "name", NOT_ALLOWED),
        ("POST", "/api/keys", {"allowed_models": ["template-kept"]}, "allowed_models", DENIED),
    ]


async def test_a_limited_admin_key_widens_no_one(api: httpx.AsyncClient) -> None:
    """An admin key limited to one model and a date promoted a member, enabled an account,
    filled a group, rewrote a knowledge base's access list, turned the guard policy off and
    registered, trained and deleted models it may not use: each outlived the key and held none
    of its limits. Each is now a 403 in OpenAI's shape naming why, and nothing changed."""
    place = await _place(api)
    ends = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    made = await api.post(
        "/api/keys",
        json={"role": "admin", "allowed_models": ["template-echo"], "expires_at": ends},
    )
    assert made.status_code == 201, made.text
    limited = {"Authorization": f"Bearer {made.json()['key']}"}
    for method, path, body, param, code in _attempts(place):
        reply = await api.request(method, path, json=body, headers=limited)
        assert reply.status_code == 403, (method, path, reply.text)
        error = reply.json()["error"]
        assert (error["param"], error["code"], error["type"]) == (param, code, "permission_error")
    users = {u["id"]: u for u in (await api.get("/api/users")).json()["data"]}
    assert users[place.member]["role"] == "member" and users[place.disabled]["disabled"]
    assert (await api.get(f"/api/groups/{place.group}")).json()["members"] == []
    access = (await api.get(f"/api/kb/{place.kb}")).json()["access"]
    assert {"role": "viewer", "access": "manage"} not in access
    models = {m["id"] for m in (await api.get("/api/models")).json()["data"]}
    assert {"template-echo", "template-kept"} <= models and "template-mine" not in models
    assert "gpt-mine" not in models
    # Within its limits it still acts as an admin: narrowing, and its own model.
    lowered = await api.patch(
        f"/api/users/{place.member}", json={"role": "viewer"}, headers=limited
    )
    assert lowered.status_code == 200, lowered.text
    assert (await api.delete("/api/models/template-echo", headers=limited)).status_code == 200


async def test_an_expired_key_changes_nothing(app: FastAPI, api: httpx.AsyncClient) -> None:
    """Every state-changing route refuses an expired admin key with 401 expired_api_key,
    whatever the body (no route answers it before the key is checked)."""
    made = await api.post(
        "/api/keys",
        json={"role": "admin", "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
    )
    assert made.status_code == 201, made.text
    with app.state.services.db.session() as s:  # its day has passed
        s.execute(
            update(ApiKey)
            .where(ApiKey.id == made.json()["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = {"Authorization": f"Bearer {made.json()['key']}"}
    for method, path in sorted(_changing_routes(app)):
        filled = path.replace("{", "").replace("}", "")  # a well-formed id of nothing
        reply = await api.request(method, filled, json={}, headers=expired)
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["error"]["code"] == "expired_api_key", (method, path)


async def test_a_cached_key_stops_at_its_expiry(app: FastAPI, api: httpx.AsyncClient) -> None:
    """Authenticated callers are cached: a key that expired meanwhile kept working until its
    cache entry lapsed. The cache is made to keep entries for a minute here, so only the
    expiry itself can end the key."""
    app.state.services.keys.ttl_s = 60.0
    ends = datetime.now(UTC) + timedelta(seconds=1)
    made = await api.post("/api/keys", json={"role": "member", "expires_at": ends.isoformat()})
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (await api.get("/api/me", headers=key)).status_code == 200  # cached from now on
    await anyio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.05)
    refused = await api.get("/api/me", headers=key)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "expired_api_key"


async def test_work_that_is_not_text_counts_against_a_keys_requests_per_minute(
    api: httpx.AsyncClient,
) -> None:
    """A key with rpm_limit 2 searched knowledge bases, uploaded files and documents, checked
    watermarks and started training jobs without bound: only the OpenAI routes counted. Each
    is now one request against the limit (429 past it, before any work), with the key's
    rate-limit headers on a successful answer."""
    kb = await api.post("/api/kb", json={"name": "手册"})
    assert kb.status_code == 201, kb.text
    kb_id = kb.json()["id"]
    text = ("员工手册.txt", "年假每年十天。".encode(), "text/plain")
    tries: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"/api/kb/{kb_id}/search", {"json": {"query": "年假"}}),
        ("POST", f"/api/kb/{kb_id}/documents", {"files": {"files": text}}),
        ("POST", f"/api/kb/{kb_id}/documents/url", {"json": {"url": "http://192.0.2.1/a"}}),
        ("POST", "/v1/files", {"files": {"file": text}, "data": {"purpose": "fine-tune"}}),
        ("POST", "/api/watermark/detect", {"json": {"text": "年假每年十天。"}}),
        ("POST", "/api/train", {"json": {"family": "gpt", "name": "g", "file_ids": ["file-x"]}}),
    ]
    for method, path, sent in tries:
        made = await api.post("/api/keys", json={"role": "admin", "rpm_limit": 2})
        assert made.status_code == 201, made.text
        limited = {"Authorization": f"Bearer {made.json()['key']}"}
        for _ in range(2):  # within the limit: answered (whatever the answer), and counted
            reply = await api.request(method, path, headers=limited, **sent)
            assert reply.status_code != 429, (path, reply.text)
            if reply.is_success:  # an error answer is built anew, without them
                assert reply.headers["x-ratelimit-limit-requests"] == "2", path
        refused = await api.request(method, path, headers=limited, **sent)
        assert refused.status_code == 429, (path, refused.text)
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    documents = (await api.get(f"/api/kb/{kb_id}/documents")).json()["data"]
    assert len(documents) == 1  # the refused upload stored nothing
