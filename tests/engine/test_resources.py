"""Resource allocation: bounded queues answer 503 through the HTTP API; LRU memory budget."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import httpx
import openai
import pytest
import torch

from aigc.errors import InvalidRequest, Overloaded
from aigc.models.device import pick_device
from aigc.models.resources import MemoryBudget, ModelGate, footprint
from tests.e2e.server import Org, Server
from tests.templates import slow, words

# Shorter and faster than tests.templates.SLOW: 64 requests through a queue of 8.
WORDS = words(30)
SLOW = slow(WORDS, pace_ms=10)


def test_overload_64_requests_queue_of_8(server: Server, org_a: Org) -> None:
    name = f"template-slow-{secrets.token_hex(3)}"
    config = {"yaml": SLOW, "max_concurrency": 2, "max_queue": 8}
    made = server.api("POST", "/api/models", json={"id": name, "config": config, "shared": True})
    assert made.status_code == 201, made.text
    client = openai.AsyncOpenAI(
        base_url=f"{server.base_url}/v1", api_key=org_a.member_key, max_retries=0, timeout=60
    )

    async def one() -> tuple[str, float, object]:
        started = time.perf_counter()
        try:
            reply = await client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "a story"}]
            )
            return "ok", time.perf_counter() - started, reply.choices[0].message.content
        except openai.APIStatusError as exc:
            return str(exc.status_code), time.perf_counter() - started, exc.response.headers

    async def burst() -> list[tuple[str, float, object]]:
        async with client:
            return await asyncio.gather(*(one() for _ in range(64)))

    results = asyncio.run(burst())
    done = [r for r in results if r[0] == "ok"]
    refused = [r for r in results if r[0] == "503"]
    assert len(done) + len(refused) == 64, [r[0] for r in results]
    assert len(done) >= 10  # 2 running + 8 queued at least
    assert len(refused) >= 30
    for _, _, text in done:
        assert str(text).split() == WORDS.split()  # every admitted request completes
    for _, _, headers in refused:
        assert int(headers["retry-after"]) >= 1  # type: ignore[index]
    # Refusals come at once, without waiting for a place: faster than any full answer.
    assert max(t for _, t, _ in refused) < max(t for _, t, _ in done)
    assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200
    again = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=org_a.member_key)
    reply = again.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "story"}]
    )
    assert reply.choices[0].message.content


def test_gate_hands_places_over_in_order() -> None:
    async def scenario() -> list[str]:
        gate = ModelGate(max_concurrency=1, max_queue=2)
        order: list[str] = []
        first = await gate.enter()

        async def wait(name: str) -> None:
            slot = await gate.enter()
            order.append(name)
            slot.release()

        tasks = [asyncio.create_task(wait("a")), asyncio.create_task(wait("b"))]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await gate.enter()
        first.release()
        await asyncio.gather(*tasks)
        assert gate.active == 0 and gate.waiting == 0
        return order

    assert asyncio.run(scenario()) == ["a", "b"]


def test_memory_budget_unloads_least_recently_used() -> None:
    unloaded: list[str] = []
    budget = MemoryBudget({"cpu": 100})
    budget.admit("a", "cpu", 40, unloaded.append)
    budget.admit("b", "cpu", 40, unloaded.append)
    budget.touch("a")  # a was used more recently than b
    assert budget.admit("c", "cpu", 40, unloaded.append) == ["b"]
    assert unloaded == ["b"] and budget.loaded() == ["a", "c"]
    budget.admit("g", "cuda:0", 10_000, unloaded.append)  # another device, no limit set
    assert budget.used("cpu") == 80
    with pytest.raises(Overloaded):
        budget.admit("huge", "cpu", 101, unloaded.append)


def test_device_placement() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(InvalidRequest):
            pick_device("cuda:0")


def test_registry_unloads_the_least_recently_used_model(tmp_path: Path) -> None:
    from aigc.infra.schema import ModelRecord
    from aigc.models.registry import ModelRegistry
    from tests.engine.tiny_lm import save_tiny_gpt2

    path = str(save_tiny_gpt2(tmp_path / "tiny"))
    config = {"path": path, "engine": {"kv_cache_mb": 1.0}, "device": "cpu"}
    records = [
        ModelRecord(id=f"mdl_{n}", name=f"hf-{n}", family="hf", config=config) for n in "abc"
    ]
    registry = ModelRegistry()
    first = registry.load(records[0])
    _, size = footprint(first)
    registry.memory = MemoryBudget({"cpu": 2 * size + 1})  # room for two
    registry.memory.admit(records[0].id, "cpu", size, registry.forget)
    registry.load(records[1])
    assert registry.loaded(records[0]) is first  # a is now the most recently used
    registry.load(records[2])  # c needs room: b goes
    assert registry.loaded(records[1]) is None
    assert registry.loaded(records[0]) is first and registry.loaded(records[2]) is not None
    for record in (records[0], records[2]):
        registry.forget(record.id)
    first.engine._thread.join(timeout=10)  # an unloaded engine's thread ends when idle
    assert not first.engine._thread.is_alive()
