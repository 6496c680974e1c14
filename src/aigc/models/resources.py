"""Resource allocation: who may generate now, who waits, who is refused, what stays loaded.

* ``ModelGate``: at most ``max_concurrency`` generations of one model at once and at most
  ``max_queue`` callers waiting; the next caller gets 503 with ``Retry-After`` at once instead
  of hanging (per-key limits answer 429 earlier, in ``gateway/limits.py``).
* ``MemoryBudget``: bytes of loaded models per device (``cpu``, ``cuda:0``...); loading one more
  unloads the least recently used models on that device until it fits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from aigc.access import Principal
from aigc.errors import Overloaded, refused
from aigc.models.base import LoadedModel

# --- concurrency and queueing ----------------------------------------------------------------


class Slot:
    """One admitted generation; ``release`` (idempotent) lets the next caller in."""

    def __init__(self, gate: ModelGate) -> None:
        self._gate: ModelGate | None = gate
        self._loop = asyncio.get_running_loop()

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate._release()

    def __del__(self) -> None:
        # A response that never started (client gone first) must not keep its place forever.
        if self._gate is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.release)


class ModelGate:
    """Concurrency limit and bounded queue of one model (event-loop side, no threads)."""

    def __init__(self, max_concurrency: int, max_queue: int) -> None:
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def enter(self) -> Slot:
        if self.active < self.max_concurrency and not self._waiters:
            self.active += 1
            return Slot(self)
        if len(self._waiters) >= self.max_queue:
            raise Overloaded(
                "The model is at capacity and its queue is full; try again shortly",
                code="model_overloaded",
                headers={"Retry-After": "1"},
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # _release hands its place over (active stays counted)
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._release()  # the place was handed to us as we left: pass it on
            raise
        return Slot(self)

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1


@dataclass
class ModelGates:
    """One gate per model record; limits come from the record's config or the defaults."""

    default_concurrency: int | None = None  # None: no gate unless the model sets one
    default_queue: int = 64
    _gates: dict[str, ModelGate] = field(default_factory=dict)

    def gate(self, key: str, config: dict[str, Any]) -> ModelGate | None:
        concurrency = config.get("max_concurrency", self.default_concurrency)
        if not isinstance(concurrency, int) or concurrency < 1:
            return None
        queue = config.get("max_queue", self.default_queue)
        queue = queue if isinstance(queue, int) and queue >= 0 else self.default_queue
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = ModelGate(concurrency, queue)
        gate.max_concurrency, gate.max_queue = concurrency, queue
        return gate

    def view(self, key: str) -> dict[str, int] | None:
        gate = self._gates.get(key)
        if gate is None:
            return None
        return {
            "max_concurrency": gate.max_concurrency,
            "max_queue": gate.max_queue,
            "active": gate.active,
            "waiting": gate.waiting,
        }


# --- memory -----------------------------------------------------------------------------------


def footprint(model: Any) -> tuple[str, int]:
    """(device, bytes of weights) of a loaded model: what its ``footprint()`` declares, else
    the torch module it holds (``model``, ``lm.model``), else (cpu, 0)."""
    own = model.footprint() if isinstance(model, LoadedModel) else None
    if own is not None:
        return own
    for path in (("model",), ("lm", "model")):
        obj = model
        for name in path:
            obj = getattr(obj, name, None)
        if isinstance(obj, torch.nn.Module):
            params = list(obj.parameters()) + list(obj.buffers())
            size = sum(p.numel() * p.element_size() for p in params)
            device = str(params[0].device) if params else "cpu"
            return device, size
    return "cpu", 0


class MemoryBudget:
    """Bytes of loaded models per device, unloading the least recently used to make room."""

    def __init__(self, budgets: dict[str, int]) -> None:
        self.budgets = budgets  # device -> bytes; a device not named has no limit
        self._loaded: OrderedDict[str, tuple[str, int]] = OrderedDict()  # key -> device, bytes
        self._lock = threading.Lock()

    def used(self, device: str) -> int:
        return sum(size for dev, size in self._loaded.values() if dev == device)

    def admit(self, key: str, device: str, size: int, unload: Callable[[str], None]) -> list[str]:
        """Account a model just loaded; unload LRU models of its device until it fits.

        Returns the keys unloaded. A model larger than the whole budget is refused.
        """
        budget = self.budgets.get(device)
        evicted: list[str] = []
        with self._lock:
            if budget is not None and size > budget:
                raise refused(
                    Overloaded,
                    "model_too_large",
                    "The model needs {size} MiB; the {device} budget is {budget} MiB",
                    code="model_too_large",
                    headers={"Retry-After": "60"},
                    size=size >> 20,
                    device=device,
                    budget=budget >> 20,
                )
            self._loaded.pop(key, None)
            while budget is not None and self.used(device) + size > budget:
                victim = next(k for k, (dev, _) in self._loaded.items() if dev == device)
                self._loaded.pop(victim)
                evicted.append(victim)
            self._loaded[key] = (device, size)
        for victim in evicted:
            unload(victim)
        return evicted

    def touch(self, key: str) -> None:
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._loaded.pop(key, None)

    def loaded(self) -> list[str]:
        return list(self._loaded)


def default_budgets(cpu_mb: int | None = None, gpu_fraction: float = 0.9) -> dict[str, int]:
    """CPU: ``cpu_mb`` or half the machine's RAM; each GPU: ``gpu_fraction`` of its memory."""
    budgets: dict[str, int] = {}
    if cpu_mb is not None:
        budgets["cpu"] = cpu_mb << 20
    else:
        with contextlib.suppress(ValueError, OSError, AttributeError):  # not on every OS
            budgets["cpu"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            total = torch.cuda.get_device_properties(i).total_memory
            budgets[f"cuda:{i}"] = int(total * gpu_fraction)
    return budgets


GATES = ModelGates()


async def admit_to_model(model: Any, record: Any) -> Slot | None:
    """Before the response starts: 503 + Retry-After if the model's queue is full, else a place
    (released by the pipeline when the generation ends)."""
    if isinstance(model, LoadedModel):
        model.check_capacity()  # e.g. the batching engine's own bounded queue
    if record is None:
        return None
    gate = GATES.gate(record.id, record.config or {})
    return await gate.enter() if gate is not None else None


def status_view(record: Any, model: Any | None, caller: Principal) -> dict[str, Any]:
    """What ``GET /api/models/{id}/status`` shows: loaded or not, where, how busy.

    An upstream's address is shown to the model's own organization and the platform admin
    only: a shared model's upstream is often a host on the operator's internal network, which
    every other organization's member could read here.
    """
    view: dict[str, Any] = {
        "id": record.name,
        "object": "model.status",
        "status": record.status,
        "loaded": model is not None,
    }
    gate = GATES.view(record.id)
    if gate is not None:
        view["concurrency"] = gate
    if model is None:
        return view
    device, size = footprint(model)
    view |= {"device": device, "memory_bytes": size}
    if isinstance(model, LoadedModel):
        view |= model.status()  # the engine's batch, an upstream's circuits
    if not (caller.platform_admin or record.tenant_id == caller.tenant_id):
        view = _without_addresses(view)
    return view


def _without_addresses(view: dict[str, Any]) -> dict[str, Any]:
    upstreams = view.get("upstreams")
    if not isinstance(upstreams, list):
        return view
    kept = [{k: v for k, v in u.items() if k != "base_url"} for u in upstreams]
    return view | {"upstreams": kept}
