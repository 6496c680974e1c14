"""A burst of requests that all miss the key, model and guard-policy caches (their 2 s entries
just expired) looks each up once, not once per request: found by the streaming soak
(bench/soak.py), where 1,000 streams at once made 1,000 database lookups of each, every one
through a worker thread."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from aigc.errors import AuthenticationFailed, NotFound
from aigc.gateway import guarding
from aigc.gateway.services import Services
from aigc.guard import store
from aigc.models.protocols import ChatMessage, TextRequest
from tests.templates import ECHO

pytestmark = pytest.mark.anyio
BURST = 50


@pytest.fixture
async def started(app: FastAPI, api: httpx.AsyncClient) -> tuple[Services, str]:
    """The services of a started app, and a member key that may use the shared echo model."""
    model = {"id": "template-echo", "config": {"yaml": ECHO}, "shared": True}
    assert (await api.post("/api/models", json=model)).status_code == 201
    tenant = (await api.post("/api/tenants", json={"name": "Burst"})).json()
    made = await api.post("/api/keys", json={"tenant_id": tenant["id"], "role": "member"})
    assert made.status_code == 201, made.text
    return app.state.services, made.json()["key"]


def selects(svc: Services, table: str) -> list[str]:
    """Every SELECT from ``table`` the database runs from now on (the real engine, as the server
    runs it; not the audit writer's, which runs beside), each taking 20 ms longer, as under
    load: lookups that overlap show up as several."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            seen.append(statement)
            time.sleep(0.02)

    event.listen(svc.db.engine, "before_cursor_execute", record)
    return seen


async def test_a_burst_of_callers_with_one_key_authenticates_once(
    started: tuple[Services, str],
) -> None:
    svc, key = started
    seen = selects(svc, "api_keys")
    svc.keys.clear()
    await svc.caller(key)
    alone = len(seen)
    assert alone > 0  # a lookup reads the database

    seen.clear()
    svc.keys.clear()  # expired, as it is every 2 s
    callers = await asyncio.gather(*(svc.caller(key) for _ in range(BURST)))
    assert len(seen) == alone
    assert {c.key_id for c in callers} == {callers[0].key_id}


async def test_a_burst_for_one_model_resolves_it_once(started: tuple[Services, str]) -> None:
    svc, key = started
    caller = await svc.caller(key)
    seen = selects(svc, "models")
    svc.models_changed()
    first = await svc.model(caller, "template-echo")
    alone = len(seen)
    assert alone > 0

    seen.clear()
    svc.models_changed()  # expired, as it is every 2 s
    models = await asyncio.gather(*(svc.model(caller, "template-echo") for _ in range(BURST)))
    assert len(seen) == alone
    assert all(m is first for m in models)


async def test_a_burst_for_one_tenant_reads_its_guard_policies_once(
    started: tuple[Services, str],
) -> None:
    svc, key = started
    caller = await svc.caller(key)
    question = [TextRequest(messages=[ChatMessage("user", "hello")], max_tokens=8)]

    async def guard() -> object:
        _, session = await guarding.guard_request(svc, caller, "template-echo", question, [])
        return session

    seen = selects(svc, "guard_policies")
    store.forget(caller.tenant_id)
    await guard()
    alone = len(seen)
    assert alone == 1

    seen.clear()
    store.forget(caller.tenant_id)  # expired, as it is every 2 s
    await asyncio.gather(*(guard() for _ in range(BURST)))
    assert len(seen) == alone


async def test_callers_waiting_on_a_failed_lookup_fail_the_same_way(
    started: tuple[Services, str],
) -> None:
    svc, key = started
    caller = await svc.caller(key)
    missing = await asyncio.gather(
        *(svc.model(caller, "template-nothing") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(m, NotFound) for m in missing)
    wrong = await asyncio.gather(
        *(svc.caller("sk-aigc-not-a-key") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(w, AuthenticationFailed) for w in wrong)
