"""The engine's scheduler: a pure object, requests in, one step plan out (after vLLM's v1).

Every step the engine asks ``schedule()`` which requests to run and how many of their tokens to
compute, runs the model on that plan, and reports the sampled tokens back with ``update()``.
The scheduler owns no tensors; it keeps the accounts that decide who runs:

* a token budget per step: decodes cost 1 token, prefills cost their chunk (chunked prefill, so
  a long prompt never blocks the decodes already running);
* KV-cache memory in fixed-size blocks: a request holds ``ceil(tokens / block_size)`` blocks;
  when a running request cannot grow, the least important running request is preempted (its
  blocks freed, its progress kept as tokens) and later resumes by recomputing its prefix;
* priorities first, then fairness across tenants: among equally important waiting requests the
  tenant with the fewest running requests goes first, so one tenant's burst cannot starve
  another tenant's single request.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass
class SchedRequest:
    """What the scheduler knows of one request: its tokens and where it stands."""

    id: str
    prompt_ids: list[int]
    max_new_tokens: int
    tenant: str = ""
    priority: int = 0  # higher runs first
    params: Any = None  # per-request sampling parameters, carried for the engine
    output_ids: list[int] = field(default_factory=list)
    num_computed: int = 0  # tokens whose keys/values are in the cache
    status: Status = Status.WAITING
    arrival: int = 0
    num_preemptions: int = 0
    finish_reason: str | None = None

    @property
    def all_ids(self) -> list[int]:
        return self.prompt_ids + self.output_ids

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_ids) + len(self.output_ids)


@dataclass
class StepPlan:
    """One step: how many new tokens each scheduled request computes, in batch order."""

    num_tokens: dict[str, int] = field(default_factory=dict)
    sampling: set[str] = field(default_factory=set)  # reach their last token: sample after it
    preempted: list[str] = field(default_factory=list)  # drop their caches before running

    @property
    def total_tokens(self) -> int:
        return sum(self.num_tokens.values())

    def __bool__(self) -> bool:
        return bool(self.num_tokens)


@dataclass
class SchedulerConfig:
    token_budget: int = 2048  # tokens computed per step, all requests together
    max_running: int = 64  # requests in the running batch
    num_blocks: int = 4096  # KV-cache memory, in blocks
    block_size: int = 16  # tokens per block


class Scheduler:
    def __init__(
        self,
        config: SchedulerConfig | None = None,
        cached: Callable[[SchedRequest], int] | None = None,
    ) -> None:
        """``cached``: how many of a request's first tokens already have keys/values when it
        is admitted (a prefix cache); those are not computed again."""
        self.config = config or SchedulerConfig()
        self.cached = cached
        self.waiting: list[SchedRequest] = []
        self.running: list[SchedRequest] = []
        self.requests: dict[str, SchedRequest] = {}
        self._blocks: dict[str, int] = {}  # request id -> blocks held
        self._arrivals = itertools.count()

    # --- requests in and out --------------------------------------------------------------

    def add(self, request: SchedRequest) -> None:
        if request.id in self.requests:
            raise ValueError(f"duplicate request id {request.id}")
        if self._blocks_for(request.num_tokens + request.max_new_tokens) > self.config.num_blocks:
            raise ValueError("the request cannot fit in the KV cache even alone")
        request.arrival = next(self._arrivals)
        request.status = Status.WAITING
        self.requests[request.id] = request
        self.waiting.append(request)

    def abort(self, request_id: str) -> None:
        """Remove a request at once (client gone); its blocks are free for the next step."""
        request = self.requests.get(request_id)
        if request is not None:
            self._finish(request, "abort")

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    @property
    def used_blocks(self) -> int:
        return sum(self._blocks.values())

    @property
    def free_blocks(self) -> int:
        return self.config.num_blocks - self.used_blocks

    # --- one step -------------------------------------------------------------------------

    def schedule(self) -> StepPlan:
        plan = StepPlan()
        budget = self.config.token_budget
        # 1. Running requests keep going: decodes first (one token each, so the whole running
        #    batch advances every step), then prefill chunks; preempt when memory runs out.
        for request in sorted(self.running, key=self._keep_order):
            if request.status is not Status.RUNNING or budget == 0:
                continue
            n = min(request.num_tokens - request.num_computed, budget)
            while not self._grow(request, request.num_computed + n):
                victim = self._victim(exclude=request)
                if victim is None:
                    n = 0
                    break
                self._preempt(victim, plan)
            if n > 0:
                self._plan(plan, request, n)
                budget -= n
        # 2. Admit waiting requests: priority, then the least-served tenant, then arrival.
        while budget > 0 and self.waiting and len(self.running) < self.config.max_running:
            request = min(self.waiting, key=self._admit_order)
            if request.num_computed == 0 and self.cached is not None:
                request.num_computed = self.cached(request)
            n = min(request.num_tokens - request.num_computed, budget)
            if not self._grow(request, request.num_computed + n):
                break  # no memory: wait for running requests to finish
            self.waiting.remove(request)
            request.status = Status.RUNNING
            self.running.append(request)
            self._plan(plan, request, n)
            budget -= n
        return plan

    def update(
        self,
        plan: StepPlan,
        sampled: dict[str, int],
        is_finished: Callable[[SchedRequest], str | None] | None = None,
    ) -> list[SchedRequest]:
        """Record a step's results; return requests that finished in it.

        ``sampled`` holds the next token of each request whose step reached the end of its
        known tokens. ``is_finished`` may end a request early (stop token, stop string).
        """
        done = []
        for request_id, n in plan.num_tokens.items():
            request = self.requests.get(request_id)
            if request is None or request.status is not Status.RUNNING:
                continue  # aborted during the step
            request.num_computed += n
            token = sampled.get(request_id)
            if token is None:
                continue
            request.output_ids.append(token)
            reason = "length" if len(request.output_ids) >= request.max_new_tokens else None
            if is_finished is not None:
                reason = is_finished(request) or reason
            if reason is not None:
                self._finish(request, reason)
                done.append(request)
        return done

    # --- accounts -------------------------------------------------------------------------

    @staticmethod
    def _plan(plan: StepPlan, request: SchedRequest, n: int) -> None:
        plan.num_tokens[request.id] = n
        if request.num_computed + n == request.num_tokens:
            plan.sampling.add(request.id)

    def _blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.config.block_size)

    def _grow(self, request: SchedRequest, tokens: int) -> bool:
        need = self._blocks_for(tokens) - self._blocks.get(request.id, 0)
        if need > self.free_blocks:
            return False
        if need > 0:
            self._blocks[request.id] = self._blocks.get(request.id, 0) + need
        return True

    def _tenant_load(self) -> dict[str, int]:
        load: dict[str, int] = {}
        for r in self.running:
            load[r.tenant] = load.get(r.tenant, 0) + 1
        return load

    def _admit_order(self, request: SchedRequest) -> tuple[int, int, int]:
        return (-request.priority, self._tenant_load().get(request.tenant, 0), request.arrival)

    def _keep_order(self, request: SchedRequest) -> tuple[bool, int, int]:
        prefilling = request.num_tokens - request.num_computed > 1
        return (prefilling, -request.priority, request.arrival)

    def _victim(self, exclude: SchedRequest) -> SchedRequest | None:
        """The running request to preempt: lowest priority, busiest tenant, latest arrival."""
        load = self._tenant_load()
        candidates = [r for r in self.running if r is not exclude]
        if not candidates:
            return None
        return min(candidates, key=lambda r: (r.priority, -load[r.tenant], -r.arrival))

    def _preempt(self, request: SchedRequest, plan: StepPlan) -> None:
        """Free the request's cache; it waits again and recomputes its tokens when readmitted."""
        self.running.remove(request)
        self._blocks.pop(request.id, None)
        plan.num_tokens.pop(request.id, None)
        plan.sampling.discard(request.id)
        plan.preempted.append(request.id)
        request.num_computed = 0
        request.num_preemptions += 1
        request.status = Status.WAITING
        self.waiting.append(request)

    def _finish(self, request: SchedRequest, reason: str) -> None:
        if request in self.running:
            self.running.remove(request)
        if request in self.waiting:
            self.waiting.remove(request)
        self._blocks.pop(request.id, None)
        self.requests.pop(request.id, None)
        request.status = Status.FINISHED
        request.finish_reason = reason
