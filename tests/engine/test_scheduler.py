"""The scheduler alone: no model, a deterministic next-token rule stands in for sampling.

The rule depends on every previous token, as a causal LM's greedy choice does, so a request that
was preempted and recomputed must produce exactly what it produces running alone.
"""

from __future__ import annotations

import random

import pytest

from aigc.models.engine.scheduler import SchedRequest, Scheduler, SchedulerConfig, Status


def next_token(ids: list[int]) -> int:
    return (sum(i * (k + 1) for k, i in enumerate(ids)) * 31 + len(ids)) % 997


def alone(prompt: list[int], n: int) -> list[int]:
    ids = list(prompt)
    for _ in range(n):
        ids.append(next_token(ids))
    return ids[len(prompt) :]


def run(scheduler: Scheduler, max_steps: int = 10_000, on_step=None) -> list[SchedRequest]:
    finished: list[SchedRequest] = []
    cfg = scheduler.config
    for step in range(max_steps):
        if not scheduler.has_work():
            return finished
        plan = scheduler.schedule()
        assert plan.total_tokens <= cfg.token_budget
        assert len(scheduler.running) <= cfg.max_running
        assert scheduler.used_blocks <= cfg.num_blocks
        assert plan, "work is waiting but the step plan is empty"
        sampled = {
            rid: next_token(scheduler.requests[rid].all_ids)
            for rid in plan.sampling
            if rid in scheduler.requests
        }
        finished += scheduler.update(plan, sampled)
        if on_step is not None:
            on_step(step, plan, finished)
    raise AssertionError("did not finish")


def test_budget_respected_and_outputs_match_alone() -> None:
    rng = random.Random(0)
    s = Scheduler(SchedulerConfig(token_budget=48, max_running=6, num_blocks=64, block_size=4))
    prompts = {}
    for i in range(20):
        prompt = [rng.randrange(997) for _ in range(rng.randint(1, 70))]
        prompts[f"r{i}"] = (prompt, rng.randint(1, 30))
        s.add(SchedRequest(f"r{i}", prompt, prompts[f"r{i}"][1], tenant=f"t{i % 3}"))
    finished = run(s)
    assert {r.id for r in finished} == set(prompts)
    for r in finished:
        prompt, n = prompts[r.id]
        assert r.output_ids == alone(prompt, n)
        assert r.finish_reason == "length"
    assert s.used_blocks == 0


def test_long_prompt_is_chunked_and_does_not_block_decodes() -> None:
    s = Scheduler(SchedulerConfig(token_budget=16, max_running=4, num_blocks=100, block_size=4))
    s.add(SchedRequest("short", [1, 2, 3], 20))
    plan = s.schedule()
    s.update(plan, {"short": next_token([1, 2, 3])})
    s.add(SchedRequest("long", list(range(100)), 5))
    chunks = []
    for _ in range(8):
        plan = s.schedule()
        assert plan.num_tokens["short"] == 1  # the decode runs every step
        chunks.append(plan.num_tokens.get("long", 0))
        sampled = {rid: next_token(s.requests[rid].all_ids) for rid in plan.sampling}
        s.update(plan, sampled)
    assert chunks[:6] == [15, 15, 15, 15, 15, 15]  # 100 prompt tokens in budget-sized chunks
    assert sum(chunks[:7]) >= 100


def test_one_tenants_flood_does_not_starve_another() -> None:
    s = Scheduler(SchedulerConfig(token_budget=64, max_running=4, num_blocks=1000, block_size=8))
    for i in range(100):
        s.add(SchedRequest(f"a{i}", [i % 50 + 1] * 8, 20, tenant="flood"))
    seen_at = {}

    def watch(step, plan, finished):
        if "b" in plan.num_tokens and "b" not in seen_at:
            seen_at["b"] = step

    # Tenant b arrives after the flood has filled the batch.
    for _ in range(3):
        plan = s.schedule()
        s.update(plan, {rid: next_token(s.requests[rid].all_ids) for rid in plan.sampling})
    s.add(SchedRequest("b", [7, 7, 7], 5, tenant="single"))
    finished = run(s, on_step=watch)
    # b is admitted as soon as the first flood request leaves (≤ 20 decode steps), not after
    # the 96 flood requests still waiting.
    assert seen_at["b"] <= 20
    b = next(r for r in finished if r.id == "b")
    assert b.output_ids == alone([7, 7, 7], 5)
    assert len(finished) == 101


def test_priority_goes_first() -> None:
    s = Scheduler(SchedulerConfig(token_budget=64, max_running=1, num_blocks=100, block_size=8))
    s.add(SchedRequest("low", [1], 3, priority=0))
    s.add(SchedRequest("high", [2], 3, priority=5))
    plan = s.schedule()
    assert list(plan.num_tokens) == ["high"]


def test_preempted_requests_resume_and_finish_correctly() -> None:
    # 12 blocks of 4 tokens: three requests of 8 prompt + 12 new tokens need 15 blocks together.
    s = Scheduler(SchedulerConfig(token_budget=64, max_running=8, num_blocks=12, block_size=4))
    prompts = {f"p{i}": [i + 1] * 8 for i in range(3)}
    for rid, prompt in prompts.items():
        s.add(SchedRequest(rid, prompt, 12))
    preempted: list[str] = []
    finished = run(s, on_step=lambda step, plan, done: preempted.extend(plan.preempted))
    assert preempted, "memory pressure should have forced a preemption"
    assert len(finished) == 3
    for r in finished:
        assert r.output_ids == alone(prompts[r.id], 12)
    assert any(r.num_preemptions > 0 for r in finished)
    assert s.used_blocks == 0


def test_abort_frees_memory_at_once() -> None:
    s = Scheduler(SchedulerConfig(token_budget=64, max_running=2, num_blocks=100, block_size=4))
    s.add(SchedRequest("x", [1] * 10, 50))
    s.add(SchedRequest("y", [2] * 10, 50))
    s.add(SchedRequest("z", [3] * 10, 50))
    plan = s.schedule()
    assert set(plan.num_tokens) == {"x", "y"}
    s.update(plan, {"x": 5, "y": 6})
    s.abort("x")
    assert s.requests.get("x") is None and s.used_blocks == 3
    plan = s.schedule()
    assert "z" in plan.num_tokens and "x" not in plan.num_tokens
    # A step whose request was aborted meanwhile is ignored for that request.
    s.abort("z")
    assert s.update(plan, {"y": 1, "z": 2}) == [] and "z" not in s.requests
    assert s.requests["y"].status is Status.RUNNING


def test_request_that_can_never_fit_is_refused() -> None:
    s = Scheduler(SchedulerConfig(num_blocks=2, block_size=4))
    with pytest.raises(ValueError):
        s.add(SchedRequest("big", [1] * 8, 4))


def test_tokens_a_prefix_cache_holds_are_not_computed_again() -> None:
    """At admission the scheduler asks how many first tokens are cached: the plan computes the
    rest, the budget pays for the rest only, memory is still held for the whole prompt."""
    asked: list[str] = []

    def cached(request: SchedRequest) -> int:
        asked.append(request.id)
        return 32 if request.prompt_ids[:32] == list(range(32)) else 0

    s = Scheduler(SchedulerConfig(token_budget=20, block_size=16, num_blocks=100), cached)
    s.add(SchedRequest("hit", list(range(40)), 4))
    s.add(SchedRequest("miss", list(range(1, 41)), 4))
    plan = s.schedule()
    assert plan.num_tokens == {"hit": 8, "miss": 12}  # 40 - 32; then the budget's rest
    assert plan.sampling == {"hit"}
    assert s.used_blocks == 3 + 1  # the hit holds its whole prompt, the miss its first chunk
    s.update(plan, {"hit": 7})
    s.schedule()
    assert asked == ["hit", "miss"]  # once, at admission, not again while running
