"""The engine loop: continuous batching for transformer causal LMs (ours or any HF one).

One thread owns the model. Each step it asks the scheduler for a plan, then:

    preempted requests  → their caches are dropped (they recompute later)
    decoding requests   → one batched forward pass over the running batch: one token each,
                          keys/values left-padded to a common length, real positions per row
    prefilling requests → whole prompts together (left-padded); a prompt chunk (or the rest
                          of a prompt after a known prefix) alone, with its own cache; when
                          the prompt is done they sample and join the running batch
    sampled tokens      → per-request logits processing (``aigc.models.decoding``), then to
                          each caller's queue; finished and cancelled requests leave the batch

Callers submit from any thread and read their tokens from a queue, so the event loop never
waits on the model. A caller that goes away (client disconnect) aborts its request: it leaves
the batch before the next step. The running batch's keys/values live in ``batch.RunningBatch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache

from aigc.errors import Overloaded, refused, refused_value
from aigc.infra import metrics
from aigc.models import decoding
from aigc.models.engine import gpt2_step, llama_step, openmp, quant
from aigc.models.engine.batch import KV, RunningBatch, cache_of, kv_of
from aigc.models.engine.prefix_cache import PrefixCache
from aigc.models.engine.scheduler import SchedRequest, Scheduler, SchedulerConfig
from aigc.models.protocols import TextRequest

log = logging.getLogger("aigc.engine")


@dataclass
class EngineConfig:
    max_running: int = 32  # requests decoding together
    token_budget: int = 1024  # tokens per step; above max_running so every decode runs
    max_queue: int = 64  # requests waiting for a place; beyond it callers get 503
    kv_cache_mb: float = 512.0  # memory for keys/values; preemption when it runs short
    block_size: int = 16
    # Keys/values of shared prompt prefixes, reused by later requests (0: no prefix cache).
    prefix_cache_mb: float = 256.0
    # "auto": as loaded on CPU (fp32), bf16 on a GPU; "fp32"; "bf16"; "int8": weight-only int8
    # projections (Llama-style checkpoints, the written-out passes), the rest as loaded;
    # "int8-dynamic": the same int8 weights, activations quantized per row on the fly and
    # multiplied in integers on a CPU (faster for batches; ``quant``).
    weights: str = "auto"

    def __post_init__(self) -> None:
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights is one of {', '.join(WEIGHTS)}, not {self.weights!r}")


WEIGHTS = ("auto", "fp32", "bf16", "int8", "int8-dynamic")
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass
class EngineStats:
    steps: int = 0
    running: int = 0
    waiting: int = 0
    kv_used: float = 0.0  # fraction of the KV budget in use
    tokens_out: int = 0
    preemptions: int = 0
    abort_lag_steps: int = 0  # steps between the last cancel and its request leaving the batch
    cached_tokens: int = 0  # prompt tokens whose keys/values came from the prefix cache


_END = object()


@dataclass
class Handle:
    """A caller's view of one request: its tokens as they come, and a way to cancel."""

    id: str
    engine: Engine
    events: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    finish_reason: str | None = None
    submitted: float = field(default_factory=time.perf_counter)
    last_token_at: float | None = None
    # Set by an async reader: the engine thread wakes it through its event loop.
    loop: asyncio.AbstractEventLoop | None = None
    ready: asyncio.Event | None = None

    def __iter__(self) -> Iterator[int]:
        while True:
            event = self.events.get()
            if event is _END:
                return
            if isinstance(event, BaseException):
                raise event
            yield event

    def batches(self) -> Iterator[list[int]]:
        """The tokens in batches: waits for one, then takes all that are already there, so a
        busy consumer (a thread hop per read) keeps up with the engine."""
        done = False
        while not done:
            batch: list[int] = []
            event = self.events.get()
            while True:
                if event is _END:
                    done = True
                    break
                if isinstance(event, BaseException):
                    raise event
                batch.append(event)
                try:
                    event = self.events.get_nowait()
                except queue.Empty:
                    break
            if batch:
                yield batch

    async def abatches(self) -> AsyncIterator[list[int]]:
        """``batches`` for a reader on an event loop: it awaits a wake-up from the engine
        thread instead of blocking a worker thread, so serving a token costs no thread hop."""
        self.ready = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        while True:
            batch: list[int] = []
            while True:
                try:
                    event = self.events.get_nowait()
                except queue.Empty:
                    break
                if event is _END:
                    if batch:
                        yield batch
                    return
                if isinstance(event, BaseException):
                    raise event
                batch.append(event)
            if batch:
                yield batch
                continue
            self.ready.clear()
            if self.events.empty():  # an event put after this check sets ``ready`` again
                await self.ready.wait()

    def cancel(self) -> None:
        self.engine.abort(self.id)


def _wake(handles: Iterable[Handle]) -> None:
    """Tell the async readers among ``handles`` that events wait: one call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
    for handle in handles:
        if handle.loop is not None and handle.ready is not None:
            by_loop.setdefault(handle.loop, []).append(handle.ready)
    for loop, events in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is reading any more
            loop.call_soon_threadsafe(_set_all, events)


def _set_all(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()


class Engine:
    """Continuous batching over one causal LM, on its own thread."""

    def __init__(
        self,
        model: Any,
        eos_ids: Sequence[int],
        config: EngineConfig | None = None,
        name: str = "model",
        owns_model: bool = False,
    ) -> None:
        """``owns_model``: nothing else uses ``model``, so the weights the passes copy (int8,
        or packed for the CPU's kernels) are dropped from it as the copies are made
        (``LlamaStep``'s ``release``); its forward no longer runs."""
        self.name = name
        self.config = config or EngineConfig()
        weights = self.config.weights
        on_gpu = next(model.parameters()).device.type == "cuda"
        if weights == "auto" and on_gpu and next(model.parameters()).dtype == torch.float32:
            weights = "bf16" if torch.cuda.is_bf16_supported() else "auto"  # GPU: half the bytes
        if weights in ("fp32", "bf16"):
            model = model.to(torch.float32 if weights == "fp32" else torch.bfloat16)
            if weights == "bf16" and model.device.type == "cpu" and not quant.cpu_has_bf16():
                log.warning("bf16 weights on a CPU without bf16 instructions are slow")
        self.model = model.eval()
        vocab = getattr(model.config, "vocab_size", None) or 1 << 62
        self.eos_ids = [i for i in eos_ids if 0 <= i < vocab]  # ids past the output: never made
        self.device = next(model.parameters()).device
        mc = model.config
        self.context_length: int | None = getattr(mc, "n_positions", None) or getattr(
            mc, "max_position_embeddings", None
        )
        self.max_positions: int = self.context_length or 1 << 30
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        # GPT-2 and Llama-style checkpoints run through written-out passes; others through
        # the model's forward.
        self.fast: gpt2_step.GPT2Step | llama_step.LlamaStep | None = None
        self.path = "forward"  # which passes run the model, for status and logs
        why: str | None = None
        if gpt2_step.supports(model):
            self.fast, self.path = gpt2_step.GPT2Step(model), "gpt2"
        elif (why := llama_step.refusal(model)) is None:
            table = min(self.max_positions, 1 << 17)
            int8 = weights if weights in quant.QUANTS else None
            step = llama_step.LlamaStep(model, table, int8, release=owns_model)
            self.fast, self.path = step, "llama"
            if step.released:
                log.info(
                    "engine dropped %.0f MB of the model's weights (its passes hold copies)",
                    step.released / 2**20,
                    extra={"model": name},
                )
        elif getattr(mc, "model_type", None) in llama_step.FAMILIES:
            log.info("engine uses the model's forward: %s", why, extra={"model": name})
        # What the weights are as served, for status: the int8 kind, or the dtype loaded.
        self.weights = (
            weights
            if weights in quant.QUANTS
            else DTYPE_NAMES.get(next(model.parameters()).dtype, "other")
        )
        if weights in quant.QUANTS and self.path != "llama":
            raise ValueError(
                "int8 weights need a Llama, Qwen2 or Mistral checkpoint on the written-out "
                f"passes; this one runs {self.path!r}" + (f" ({why})" if why else "")
            )
        self.prefix_cache = (
            PrefixCache(int(self.config.prefix_cache_mb * 2**20), self.config.block_size)
            if self.config.prefix_cache_mb > 0
            else None
        )
        self.scheduler = Scheduler(
            SchedulerConfig(
                token_budget=max(self.config.token_budget, self.config.max_running + 1),
                max_running=self.config.max_running,
                num_blocks=self._kv_blocks(),
                block_size=self.config.block_size,
            ),
            cached=self._cached_prefix if self.prefix_cache is not None else None,
        )
        self.stats = EngineStats()
        self._queue_gauge = metrics.ENGINE_QUEUE.labels(name)
        self._running_gauge = metrics.ENGINE_RUNNING.labels(name)
        self._kv_gauge = metrics.ENGINE_KV_USE.labels(name)
        self._tokens_counter = metrics.ENGINE_TOKENS.labels(name)
        self._ttft = metrics.ENGINE_TTFT.labels(name)
        self._itl = metrics.ENGINE_ITL.labels(name)
        self._handles: dict[str, Handle] = {}
        self._requests: dict[str, TextRequest] = {}
        self._generators: dict[str, torch.Generator] = {}
        self._prefill_kv: dict[str, KV] = {}  # request id -> keys/values of a prompt so far
        self._hits: dict[str, KV] = {}  # prefix-cache hits of the requests admitted this step
        self._batch = RunningBatch()
        self._inbox: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ids = itertools.count()
        self._stop = False
        self._stop_when_idle = False
        # This thread built the passes (quantizing: parallel regions); its OpenMP team would
        # only slow the engine thread's (openmp.py says why).
        openmp.release_thread_pool()
        self._thread = threading.Thread(target=self._loop, name=f"engine-{name}", daemon=True)
        self._thread.start()

    @property
    def copied_bytes(self) -> int:
        """Bytes of weight copies the passes hold beside the model's parameters."""
        return self.fast.copied_bytes if isinstance(self.fast, llama_step.LlamaStep) else 0

    def _kv_blocks(self) -> int:
        mc = self.model.config
        layers = _config_size(mc, "n_layer", "num_hidden_layers")
        heads = _config_size(mc, "n_head", "num_attention_heads")
        kv_heads = _config_size(mc, "num_key_value_heads", default=heads)
        hidden = _config_size(mc, "n_embd", "hidden_size")
        dtype_bytes = next(self.model.parameters()).element_size()
        per_token = 2 * layers * kv_heads * (hidden // heads) * dtype_bytes
        return max(1, int(self.config.kv_cache_mb * 2**20 // (per_token * self.config.block_size)))

    # --- callers (any thread) -------------------------------------------------------------

    def check_capacity(self) -> None:
        """503 + Retry-After when every running place and every queue place is taken."""
        with self._lock:
            self._check_capacity_locked()

    def _check_capacity_locked(self) -> None:
        if len(self._handles) >= self.config.max_running + self.config.max_queue:
            raise refused(
                Overloaded,
                "model_busy",
                "The model '{model}' is busy; try again shortly",
                headers={"Retry-After": "1"},
                model=self.name,
            )

    def submit(
        self, prompt_ids: list[int], request: TextRequest, tenant: str = "", priority: int = 0
    ) -> Handle:
        if request.num_beams > 1:
            raise refused_value(
                "beam_search_not_batched",
                "Beam search is not served by the batching engine",
                param="n",
                code="unsupported_value",
            )
        if not prompt_ids:
            raise refused_value("prompt_empty", "The prompt is empty", param="prompt")
        room = self.max_positions - len(prompt_ids)
        if room < 1:
            raise refused_value(
                "prompt_too_long",
                "The prompt has {tokens} tokens; this model reads at most {context}",
                param="messages" if request.messages is not None else "prompt",
                code="context_length_exceeded",
                tokens=len(prompt_ids),
                context=self.max_positions - 1,
            )
        max_new = min(request.max_tokens or 256, room)
        request_id = f"r{next(self._ids)}"
        handle = Handle(request_id, self)
        sched = SchedRequest(request_id, list(prompt_ids), max_new, tenant, priority, request)
        with self._lock:
            self._check_capacity_locked()
            self._handles[request_id] = handle
            self._inbox.append(("add", sched))
        self._wake.set()
        return handle

    def abort(self, request_id: str) -> None:
        with self._lock:
            self._inbox.append(("abort", (request_id, self.stats.steps)))
        self._wake.set()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=10)

    def stop_when_idle(self) -> None:
        """Let the requests in flight finish, then end the thread (the model was unloaded)."""
        self._stop_when_idle = True
        self._wake.set()

    # --- the loop (engine thread) ---------------------------------------------------------

    def _loop(self) -> None:
        with torch.inference_mode():  # once for the thread, not once per step
            self._run()

    def _run(self) -> None:
        while not self._stop:
            self._take_inbox()
            if not self.scheduler.has_work():
                if self._stop_when_idle and not self._handles:
                    return
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                self.step()
            except Exception as exc:  # never let one bad step kill the engine
                log.exception("engine step failed", extra={"model": self.name})
                self._fail_all(exc)

    def _take_inbox(self) -> None:
        with self._lock:
            inbox, self._inbox = self._inbox, []
        for kind, item in inbox:
            if kind == "add":
                try:
                    self.scheduler.add(item)
                except ValueError as exc:
                    too_long = refused_value(
                        "request_too_long",
                        "The request is too long: {reason}",
                        param="prompt",
                        code="context_length_exceeded",
                        reason=str(exc),
                    )
                    self._end(item.id, too_long)
                    continue
                self._requests[item.id] = item.params
                self._generators[item.id] = decoding.make_generator(item.params.seed, self.device)
            else:
                request_id, asked_at_step = item
                if request_id in self.scheduler.requests:
                    self.stats.abort_lag_steps = self.stats.steps - asked_at_step
                self.scheduler.abort(request_id)
                self._drop(request_id)
                self._end(request_id, None)
        if inbox:
            self._update_stats()

    def step(self) -> None:
        """One forward pass for every scheduled request (run under the loop's inference mode)."""
        plan = self.scheduler.schedule()
        self._batch.remove(set(plan.preempted))
        for request_id in plan.preempted:
            self._prefill_kv.pop(request_id, None)
            self.stats.preemptions += 1
        self._prefill_kv.update(self._hits)  # a request preempted and readmitted: its hit
        self._hits.clear()
        decode_ids = [rid for rid in self._batch.ids if rid in plan.num_tokens]
        if len(decode_ids) != len(self._batch):
            raise RuntimeError("the plan left a running request out of the decode step")
        # The rows to sample from, in blocks: (request ids, logits [rows, vocab]).
        blocks: list[tuple[list[str], torch.Tensor]] = []
        if decode_ids:
            blocks.append((decode_ids, self._decode()))
        # Whole prompts from the start run together (left-padded); chunks run alone.
        whole = [
            rid
            for rid, n in plan.num_tokens.items()
            if rid not in decode_ids
            and rid in plan.sampling
            and self.scheduler.requests[rid].num_computed == 0
        ]
        joining: list[tuple[list[str], KV, torch.Tensor | None]] = []
        if whole:
            batch_logits, kv, mask = self._prefill_together(whole)
            blocks.append((whole, batch_logits))
            joining.append((whole, kv, mask))
            for row, rid in enumerate(whole):
                self._remember(self.scheduler.requests[rid].all_ids, kv, row, mask)
        # Prompts ending after keys/values they already have (a prefix-cache hit, the last
        # chunk of a long prompt) run together too, on the Llama passes.
        resumed = [
            rid
            for rid in plan.num_tokens
            if rid not in decode_ids
            and rid not in whole
            and rid in plan.sampling
            and rid in self._prefill_kv
            and isinstance(self.fast, llama_step.LlamaStep)
        ]
        if resumed:
            batch_logits, kv, mask = self._prefill_resumed(resumed)
            blocks.append((resumed, batch_logits))
            joining.append((resumed, kv, mask))
            for row, rid in enumerate(resumed):
                real = mask[row].bool()
                self._remember(
                    self.scheduler.requests[rid].all_ids,
                    [(k[row : row + 1, :, real], v[row : row + 1, :, real]) for k, v in kv],
                )
        for request_id, n in plan.num_tokens.items():
            if request_id in decode_ids or request_id in whole or request_id in resumed:
                continue
            last = self._prefill(request_id, n)
            if request_id in plan.sampling:
                blocks.append(([request_id], last[None]))
                kv = self._prefill_kv.pop(request_id)
                joining.append(([request_id], kv, None))
                self._remember(self.scheduler.requests[request_id].all_ids, kv)
        sampled = self._pick(blocks)
        for ids, kv, rows_mask in joining:
            self._batch.add(ids, kv, rows_mask)
        finished = self.scheduler.update(plan, sampled, self._eos_reached)
        now = time.perf_counter()
        woken: list[Handle] = []
        for request_id, token in sampled.items():
            handle = self._handles.get(request_id)
            if handle is not None:
                handle.events.put(token)
                woken.append(handle)
                if handle.last_token_at is None:
                    self._ttft.observe(now - handle.submitted)
                else:
                    self._itl.observe(now - handle.last_token_at)
                handle.last_token_at = now
        self.stats.tokens_out += len(sampled)
        self._tokens_counter.inc(len(sampled))
        self._batch.remove({request.id for request in finished})  # one copy for all leaving
        for request in finished:
            if request.id not in sampled and (handle := self._handles.get(request.id)):
                woken.append(handle)
            self._end(request.id, None, request.finish_reason, wake=False)
        _wake(woken)  # once per step for every reader, after its tokens and its end are queued
        self.stats.steps += 1
        self._update_stats()

    def _update_stats(self) -> None:
        self.stats.running = len(self.scheduler.running)
        self.stats.waiting = len(self.scheduler.waiting)
        self.stats.kv_used = self.scheduler.used_blocks / self.scheduler.config.num_blocks
        self._queue_gauge.set(self.stats.waiting)
        self._running_gauge.set(self.stats.running)
        self._kv_gauge.set(self.stats.kv_used)

    def _decode(self) -> torch.Tensor:
        """One token for every row of the running batch: next-token logits [rows, vocab]."""
        batch = self._batch
        reqs = [self.scheduler.requests[rid] for rid in batch.ids]
        # A row in the batch has sampled; its last token is the one not yet in the cache.
        ids = torch.tensor([r.output_ids[-1] for r in reqs], device=self.device)
        positions = torch.tensor([r.num_computed for r in reqs], device=self.device)
        mask = batch.before_step()
        if self.fast is not None:
            logits = self.fast.decode(ids, positions, batch.layers, mask if batch.padded else None)
        else:
            out = self.model(
                input_ids=ids[:, None],
                attention_mask=mask if batch.padded else None,  # no mask: faster attention
                position_ids=positions[:, None],
                use_cache=True,
                **{self._cache_arg: batch.cache},
                **self._last_only,
            )
            logits = out.logits[:, -1]
        batch.after_step(mask)  # the cache layers wrote the new column in place
        return logits

    def _cached_prefix(self, request: SchedRequest) -> int:
        """The scheduler admits ``request``: how many of its first tokens the prefix cache
        holds (their keys/values become the start of its prompt's cache). At least one token
        is left to compute: its logits give the first new token."""
        assert self.prefix_cache is not None
        n, kv = self.prefix_cache.lookup(request.all_ids, request.num_tokens - 1)
        if kv is not None:
            self._hits[request.id] = kv  # in place once this step's preemptions are undone
            self.stats.cached_tokens += n
        return n

    def _remember(
        self, ids: list[int], kv: KV, row: int = 0, mask: torch.Tensor | None = None
    ) -> None:
        """Offer a prefilled prompt's keys/values (row ``row``, after its left padding) to the
        prefix cache."""
        if self.prefix_cache is None or len(ids) < self.config.block_size:
            return
        if kv[0][0].shape[2] < len(ids):  # a cache that kept only a window (HF sliding layers)
            return
        offset = kv[0][0].shape[2] - len(ids) if mask is not None else 0
        self.prefix_cache.insert(ids, kv, row, offset)

    def _prefill(self, request_id: str, n: int) -> torch.Tensor:
        request = self.scheduler.requests[request_id]
        start = request.num_computed
        ids = torch.tensor([request.all_ids[start : start + n]], device=self.device)
        positions = torch.arange(start, start + n, device=self.device)[None]
        past = self._prefill_kv.get(request_id)
        if isinstance(self.fast, llama_step.LlamaStep):
            logits, self._prefill_kv[request_id] = self.fast.prefill(ids, positions, None, past)
            return logits[0]
        kwargs = {self._cache_arg: DynamicCache(past)} if past is not None else {}
        out = self.model(
            input_ids=ids, position_ids=positions, use_cache=True, **kwargs, **self._last_only
        )
        self._prefill_kv[request_id] = kv_of(cache_of(out))
        return out.logits[0, -1]

    def _prefill_resumed(self, ids: list[str]) -> tuple[torch.Tensor, KV, torch.Tensor]:
        """The rest of several prompts after the keys/values each already has, in one pass:
        the pasts and the rests each left-padded to the longest (a row's columns are its
        padding, its past, padding again, its rest; the mask says which are real)."""
        assert isinstance(self.fast, llama_step.LlamaStep)
        reqs = [self.scheduler.requests[rid] for rid in ids]
        pasts = [self._prefill_kv.pop(rid) for rid in ids]
        rests = [r.all_ids[r.num_computed :] for r in reqs]
        known = [p[0][0].shape[2] for p in pasts]
        width_past, width = max(known), max(len(r) for r in rests)
        device = self.device
        past = [
            (
                torch.cat(
                    [
                        F.pad(p[i][0], (0, 0, width_past - n, 0))
                        for p, n in zip(pasts, known, strict=True)
                    ]
                ),
                torch.cat(
                    [
                        F.pad(p[i][1], (0, 0, width_past - n, 0))
                        for p, n in zip(pasts, known, strict=True)
                    ]
                ),
            )
            for i in range(len(pasts[0]))
        ]
        past_mask = torch.tensor([[0] * (width_past - n) + [1] * n for n in known], device=device)
        pads = [width - len(r) for r in rests]
        input_ids = torch.tensor(
            [[0] * p + r for p, r in zip(pads, rests, strict=True)], device=device
        )
        mask = torch.tensor([[0] * p + [1] * (width - p) for p in pads], device=device)
        start = torch.tensor(known, device=device)[:, None]
        positions = start + (mask.cumsum(-1) - 1).clamp(min=0)
        logits, kv = self.fast.prefill(input_ids, positions, mask, past, past_mask=past_mask)
        return logits, kv, torch.cat([past_mask, mask], dim=1)

    def _prefill_together(self, ids: list[str]) -> tuple[torch.Tensor, KV, torch.Tensor]:
        """Several whole prompts in one forward pass, left-padded to the longest."""
        prompts = [self.scheduler.requests[rid].all_ids for rid in ids]
        width = max(len(p) for p in prompts)
        pads = [width - len(p) for p in prompts]
        rows = [[0] * pad + p for pad, p in zip(pads, prompts, strict=True)]
        input_ids = torch.tensor(rows, device=self.device)
        mask = torch.tensor([[0] * pad + [1] * (width - pad) for pad in pads], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        if self.fast is not None:
            logits, kv = self.fast.prefill(input_ids, positions, mask)
            return logits, kv, mask
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **self._last_only,
        )
        return out.logits[:, -1], kv_of(cache_of(out)), mask

    def _pick(self, blocks: list[tuple[list[str], torch.Tensor]]) -> dict[str, int]:
        """The next token of each request: a batched argmax for plain greedy requests, the full
        chain of ``decoding`` (processors, penalties, sampling) for the others."""
        if not blocks:
            return {}
        ids = [rid for block_ids, _ in blocks for rid in block_ids]
        rows = blocks[0][1] if len(blocks) == 1 else torch.cat([t for _, t in blocks])
        rows = rows.float()
        picked: dict[str, int] = {}
        plain, too_short = [], []
        for i, rid in enumerate(ids):
            request = self._requests[rid]
            sched = self.scheduler.requests[rid]
            if _plain_greedy(request):
                plain.append(i)
                if len(sched.output_ids) < request.min_tokens:
                    too_short.append(i)
                continue
            history, generated = sched.all_ids, sched.output_ids
            processed = decoding.process_logits(
                rows[i].clone(), history, generated, request, self.eos_ids
            )
            if request.temperature == 0.0:
                picked[rid] = int(torch.argmax(processed))
            else:
                probs = torch.softmax(decoding.sampling_filter(processed, request), dim=-1)
                picked[rid] = int(torch.multinomial(probs, 1, generator=self._generators[rid]))
        if plain:
            if too_short and self.eos_ids:  # min_tokens not reached: no end yet, in one op
                banned = torch.tensor(too_short)[:, None], torch.tensor(self.eos_ids)[None]
                rows[banned] = -torch.inf
            best = (rows if len(plain) == len(ids) else rows[plain]).argmax(-1).tolist()
            picked.update({ids[i]: t for i, t in zip(plain, best, strict=True)})
        return picked

    def _eos_reached(self, request: SchedRequest) -> str | None:
        return "stop" if request.output_ids[-1] in self.eos_ids else None

    def _drop(self, request_id: str) -> None:
        self._batch.remove({request_id})
        self._prefill_kv.pop(request_id, None)

    def _end(
        self,
        request_id: str,
        error: BaseException | None,
        reason: str | None = None,
        wake: bool = True,
    ) -> None:
        handle = self._handles.pop(request_id, None)
        self._requests.pop(request_id, None)
        self._generators.pop(request_id, None)
        if handle is not None:
            handle.finish_reason = reason
            handle.events.put(error if error is not None else _END)
            if wake:
                _wake([handle])

    def _fail_all(self, exc: Exception) -> None:
        error = refused(
            Overloaded,
            "model_failed",
            "The model '{model}' failed: {error}",
            model=self.name,
            error=type(exc).__name__,
        )
        for request_id in list(self.scheduler.requests):
            self.scheduler.abort(request_id)
            self._end(request_id, error)
        self._batch = RunningBatch()
        self._prefill_kv.clear()
        self._hits.clear()


def _config_size(config: Any, *names: str, default: int = 1) -> int:
    """The first of ``names`` the model's config sets (architectures name their sizes
    differently: GPT-2's ``n_layer`` is Llama's ``num_hidden_layers``), else ``default``."""
    for name in names:
        value = getattr(config, name, None)
        if value:
            return int(value)
    return default


def _plain_greedy(request: TextRequest) -> bool:
    return (
        request.temperature == 0.0
        and not request.logits_processors
        and request.repetition_penalty == 1.0
        and request.presence_penalty == 0.0
        and request.frequency_penalty == 0.0
        and request.no_repeat_ngram_size == 0
    )
