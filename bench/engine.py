"""Continuous batching (our engine, through the HTTP API) against transformers baselines.

One HF-format checkpoint, built here from a fixed seed (no download): a GPT-2 config with 6
layers, 8 heads, 256 dims, vocabulary 8192, 512 positions (about 7M parameters), with a
word-level tokenizer of 8192 words ("w0" … "w8191", one token per word, so prompt and output
lengths are exact through the HTTP API as well).

Systems, side by side in one run:

    (a)  sequential ``model.generate()``, one request at a time
    (a') static batching with ``generate()``: requests grouped into left-padded batches of up to
         32, each batch run to its longest member before the next starts
    (c)  the raw batched forward pass with a KV cache at the same batch size (the ceiling)
    (b)  our engine in this process (``Engine.submit``, all streams read on one event loop),
         for reference
    (B)  our engine through the HTTP API: ``aigc serve`` with the checkpoint registered as
         ``hf-bench`` with ``config.engine``, streaming ``/v1/completions``

Workloads:

    (1) 32 requests at once, 32-token prompts, 128 new tokens each (min_tokens = max_tokens,
        so every request decodes 128)
    (2) 128 requests arriving as a seeded Poisson stream at 14 requests/s, prompts of 16–64
        tokens, max_tokens uniform in 16–256 (again min_tokens = max_tokens)

Reported: output tokens/s (useful tokens over the workload's wall time), time to first token
p50/p99 (from the request's arrival) and inter-token latency p50/p99; every system runs
``--rounds`` times (default 3, interleaved, so machine noise hits them alike), each run in a
fresh process (what one leaves behind must not slow the next), and each row is its round with
the median throughput. Results:
``bench/results/engine.json`` (a partial run: ``engine-partial.json``). A benchmark, not a
test: nothing asserts on timing.

    python bench/engine.py            # full run (several minutes on 2 cores)
    python bench/engine.py --quick    # (a) on 4 of the 32 requests; workload (2) with 32
    python bench/engine.py --threads 1   # torch threads (default: all cores)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.cache_utils import DynamicCache

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.e2e.server: the same server helper as the tests

from tests.e2e.server import Server, new_admin_key  # noqa: E402

from aigc.models.engine.engine import Engine, EngineConfig  # noqa: E402
from aigc.models.protocols import TextRequest  # noqa: E402

RESULTS = HERE / "results" / "engine.json"
# A run with --quick, --skip or fewer workloads writes here (not kept in git): it must not
# replace the full run's table that bench/README.md quotes.
PARTIAL_RESULTS = HERE / "results" / "engine-partial.json"
VOCAB = 8192
ENGINE = {"max_running": 64, "token_budget": 2048, "max_queue": 512, "kv_cache_mb": 256}


@dataclass
class Req:
    arrival: float  # seconds after the workload starts
    prompt: list[int]
    new_tokens: int


@dataclass
class Timings:
    """Per request: arrival and the times its tokens came out (seconds from the start)."""

    arrivals: list[float] = field(default_factory=list)
    token_times: list[list[float]] = field(default_factory=list)
    wall: float = 0.0

    def summary(self) -> dict[str, float]:
        tokens = sum(len(t) for t in self.token_times)
        ttft = [t[0] - a for a, t in zip(self.arrivals, self.token_times, strict=True) if t]
        itl = [b - a for t in self.token_times for a, b in itertools.pairwise(t)]
        return {
            "requests": len(self.token_times),
            "tokens": tokens,
            "wall_s": round(self.wall, 3),
            "tokens_per_s": round(tokens / self.wall, 1) if self.wall else 0.0,
            "ttft_p50_ms": round(pct(ttft, 50) * 1000, 1),
            "ttft_p99_ms": round(pct(ttft, 99) * 1000, 1),
            "itl_p50_ms": round(pct(itl, 50) * 1000, 2),
            "itl_p99_ms": round(pct(itl, 99) * 1000, 2),
        }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- the checkpoint --------------------------------------------------------------------------


def word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {f"w{i}": i for i in range(VOCAB - 1)} | {"<eos>": VOCAB - 1}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")


def build_checkpoint(out: Path) -> Path:
    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=6,
        n_head=8,
        n_embd=256,
        vocab_size=VOCAB,
        n_positions=512,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
    )
    GPT2LMHeadModel(config).eval().save_pretrained(out)
    word_tokenizer().save_pretrained(out)
    return out


def workload_1() -> list[Req]:
    rng = random.Random(1)
    return [Req(0.0, [rng.randrange(VOCAB - 1) for _ in range(32)], 128) for _ in range(32)]


def workload_2(count: int) -> list[Req]:
    rng = random.Random(2)
    t, out = 0.0, []
    for _ in range(count):
        t += rng.expovariate(14.0)
        prompt = [rng.randrange(VOCAB - 1) for _ in range(rng.randint(16, 64))]
        out.append(Req(t, prompt, rng.randint(16, 256)))
    return out


# --- baselines -------------------------------------------------------------------------------


class StepClock(StoppingCriteria):
    """Called by generate() after every new token: the time each step ended."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def generate_batch(model: Any, batch: list[Req]) -> list[float]:
    """Left-padded generate() until the longest member is done; the step end times."""
    width = max(len(r.prompt) for r in batch)
    eos = model.config.eos_token_id
    device = model.device
    ids = torch.tensor([[eos] * (width - len(r.prompt)) + r.prompt for r in batch], device=device)
    mask = torch.tensor(
        [[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in batch], device=device
    )
    longest = max(r.new_tokens for r in batch)
    clock = StepClock()
    model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=longest,
        min_new_tokens=longest,
        do_sample=False,
        pad_token_id=eos,
        stopping_criteria=StoppingCriteriaList([clock]),
    )
    return clock.times


@torch.inference_mode()
def run_sequential(model: Any, reqs: list[Req]) -> Timings:
    timings, start = Timings(), time.perf_counter()
    for r in reqs:
        times = generate_batch(model, [r])
        timings.arrivals.append(r.arrival)
        timings.token_times.append([t - start for t in times[: r.new_tokens]])
    timings.wall = time.perf_counter() - start
    return timings


@torch.inference_mode()
def run_static(model: Any, reqs: list[Req], batch_size: int = 32) -> Timings:
    """A naive server: take what has arrived (up to 32), run it to the end, repeat."""
    pending = sorted(reqs, key=lambda r: r.arrival)
    timings, start = Timings(), time.perf_counter()
    while pending:
        now = time.perf_counter() - start
        if pending[0].arrival > now:
            time.sleep(pending[0].arrival - now)
            now = time.perf_counter() - start
        batch = [r for r in pending if r.arrival <= now][:batch_size]
        pending = pending[len(batch) :]
        times = generate_batch(model, batch)
        for r in batch:
            timings.arrivals.append(r.arrival)
            timings.token_times.append([t - start for t in times[: r.new_tokens]])
    timings.wall = time.perf_counter() - start
    return timings


@torch.inference_mode()
def run_raw(model: Any, reqs: list[Req]) -> Timings:
    """The ceiling: one batched prefill, then batched decode steps with a KV cache, argmax."""
    start = time.perf_counter()
    ids = torch.tensor([r.prompt for r in reqs], device=model.device)  # equal lengths
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    times: list[float] = []
    for _ in range(reqs[0].new_tokens):
        nxt = out.logits[:, -1].argmax(-1)
        times.append(time.perf_counter() - start)
        cache = _cache_of(out)
        out = model(input_ids=nxt[:, None], use_cache=True, logits_to_keep=1, **{CACHE: cache})
    timings = Timings(wall=time.perf_counter() - start)
    for r in reqs:
        timings.arrivals.append(r.arrival)
        timings.token_times.append(times[: r.new_tokens])
    return timings


CACHE = "cache" if "cache" in GPT2LMHeadModel.forward.__code__.co_varnames else "past_key_values"


def _cache_of(out: Any) -> DynamicCache:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def run_engine_inprocess(model: Any, reqs: list[Req]) -> Timings:
    """Every request read on one event loop, as the server reads them (``Handle.abatches``)."""
    engine = Engine(model, [model.config.eos_token_id], EngineConfig(**ENGINE), name="bench")
    try:
        return drive_engine(engine, reqs)
    finally:
        engine.close()


def drive_engine(engine: Engine, reqs: list[Req]) -> Timings:
    """``reqs`` through a running engine, each at its arrival time, read on one event loop."""
    timings = Timings(arrivals=[r.arrival for r in reqs], token_times=[[] for _ in reqs], wall=0.0)

    async def serve(i: int, r: Req, start: float) -> None:
        delay = r.arrival - (time.perf_counter() - start)
        if delay > 0:
            await asyncio.sleep(delay)
        ask = TextRequest(
            prompt="-", max_tokens=r.new_tokens, min_tokens=r.new_tokens, temperature=0
        )
        async for tokens in engine.submit(r.prompt, ask).abatches():
            timings.token_times[i].extend([time.perf_counter() - start] * len(tokens))

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(serve(i, r, start) for i, r in enumerate(reqs)))
        return time.perf_counter() - start

    timings.wall = asyncio.run(main())
    return timings


# --- our engine through the HTTP API ---------------------------------------------------------


async def _stream_one(
    session: aiohttp.ClientSession, base_url: str, r: Req, start: float, out: list[float], key: str
) -> None:
    delay = r.arrival - (time.perf_counter() - start)
    if delay > 0:
        await asyncio.sleep(delay)
    body = {
        "model": "hf-bench",
        "prompt": " ".join(f"w{t}" for t in r.prompt),
        "max_tokens": r.new_tokens,
        "min_tokens": r.new_tokens,
        "temperature": 0,
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {key}"}
    async with session.post(f"{base_url}/v1/completions", json=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:300]!r}")
        async for line in resp.content:  # one server-sent event line at a time
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            event = json.loads(line[6:])
            for choice in event.get("choices") or []:
                # One word per token: a piece may carry several when the loop was busy.
                words = len(choice.get("text", "").split())
                out.extend([time.perf_counter() - start] * words)


def run_engine_http(checkpoint_root: Path, reqs: list[Req], warm: list[Req]) -> Timings:
    """``warm`` first, untimed, then ``reqs``: one server, the checkpoint registered once."""
    data = Path(tempfile.mkdtemp(prefix="aigc-bench-engine-")) / "data"
    server = Server(
        data,
        new_admin_key(),
        AIGC_IMPORT_ROOTS=str(checkpoint_root),
        AIGC_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS=str(torch.get_num_threads()),  # the same threads as the baselines
    ).start()
    try:
        config = {"path": str(checkpoint_root / "gpt2-7m"), "engine": ENGINE}
        made = server.api("POST", "/api/models", json={"id": "hf-bench", "config": config})
        if made.status_code != 201:
            raise RuntimeError(made.text)

        async def run(work: list[Req]) -> Timings:
            timings = Timings(arrivals=[r.arrival for r in work], token_times=[[] for _ in work])
            # aiohttp (a C HTTP parser): the client shares this machine's cores with the
            # server, so it should take as little of them as it can.
            connector = aiohttp.TCPConnector(limit=len(work) + 4)
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                start = time.perf_counter()
                await asyncio.gather(
                    *(
                        _stream_one(session, server.base_url, r, start, times, server.admin_key)
                        for r, times in zip(work, timings.token_times, strict=True)
                    )
                )
                timings.wall = time.perf_counter() - start
            return timings

        asyncio.run(run(warm))  # loads the model; the server's first streams are not timed
        return asyncio.run(run(reqs))
    finally:
        server.stop()


# --- main ------------------------------------------------------------------------------------


SYSTEMS: dict[str, tuple[tuple[str, ...], Any]] = {  # name: (its workloads, its runner)
    "(a) sequential generate()": (("1",), run_sequential),
    "(a') static batching, 32": (("1", "2"), run_static),
    "(c) raw batched forward + KV": (("1",), run_raw),
    "(b) engine, in-process": (("1", "2"), run_engine_inprocess),
    "(B) engine via HTTP API": (("1", "2"), run_engine_http),
}


def run_one(checkpoint: Path, system: str, workload: str, quick: bool) -> dict[str, float]:
    """One system on one workload, in this (fresh) process."""
    reqs = workload_1() if workload == "1" else workload_2(32 if quick else 128)
    run = SYSTEMS[system][1]
    if run is run_sequential and quick:
        reqs = reqs[:4]
    # Every system first runs the same workload untimed (sequential: 4 of its requests), so
    # what is measured is the steady state a long-running server is in: one-time costs (lazy
    # imports, kernel choice, thread pools) paid, and the C allocator's thresholds grown to
    # the workload's tensors (fresh, it maps and faults in new pages for each growing cache).
    warm = reqs[:4] if run is run_sequential else reqs
    if run is run_engine_http:
        return run_engine_http(checkpoint.parent, reqs, warm).summary()
    model = GPT2LMHeadModel.from_pretrained(checkpoint).eval()
    run(model, warm)
    return run(model, reqs).summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip", nargs="*", default=[], help="systems to skip: a a' b B c")
    parser.add_argument("--max-running", type=int, default=ENGINE["max_running"])
    parser.add_argument("--workloads", nargs="*", default=["1", "2"], help="which to run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every system; medians")
    parser.add_argument("--one", nargs=3, metavar=("CHECKPOINT", "SYSTEM", "WORKLOAD"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ENGINE["max_running"] = args.max_running  # requests decoding together
    if args.one:  # a child: one measurement, its summary as JSON on the last line
        checkpoint, system, workload = args.one
        print(json.dumps(run_one(Path(checkpoint), system, workload, args.quick)))
        return
    root = Path(tempfile.mkdtemp(prefix="aigc-bench-ckpt-"))
    checkpoint = build_checkpoint(root / "gpt2-7m")
    params = sum(p.numel() for p in GPT2LMHeadModel.from_pretrained(checkpoint).parameters())
    print(f"checkpoint: {params / 1e6:.1f}M parameters, torch threads {args.threads}")

    rounds: dict[str, dict[str, list[dict[str, float]]]] = {"1": {}, "2": {}}
    options = ["--threads", str(args.threads), "--max-running", str(args.max_running)]
    for i in range(args.rounds):  # every system once per round: machine noise hits them alike
        print(f"round {i + 1} of {args.rounds}", flush=True)
        for workload in ("1", "2"):
            for system, (workloads, _) in SYSTEMS.items():
                short = system.split(" ")[0].strip("()")
                wanted = workload in args.workloads and workload in workloads
                if not wanted or short in args.skip:
                    continue
                # Each in a fresh process: what one system leaves behind (allocator, thread
                # pools, caches) must not slow the next one down.
                t = time.perf_counter()
                child = [sys.executable, __file__, "--one", str(checkpoint), system, workload]
                done = subprocess.run(
                    child + options + (["--quick"] if args.quick else []),
                    capture_output=True,
                    text=True,
                )
                if done.returncode != 0:
                    raise RuntimeError(f"{system} on workload {workload}:\n{done.stderr[-3000:]}")
                summary = json.loads(done.stdout.strip().splitlines()[-1])
                rounds[workload].setdefault(system, []).append(summary)
                print(f"  workload {workload} {system}: {time.perf_counter() - t:.1f}s", flush=True)
    # Each row: the round with the median throughput (its latencies come with it).
    systems = {
        workload: {name: median_round(runs) for name, runs in rows.items()}
        for workload, rows in rounds.items()
    }

    header = (
        f"{'workload / system':44} {'tok/s':>8} {'TTFT p50':>9} {'p99':>8}"
        f" {'ITL p50':>8} {'p99':>7}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for workload, rows in systems.items():
        for name, s in rows.items():
            print(
                f"{workload + ' ' + name:44} {s['tokens_per_s']:>8.0f} {s['ttft_p50_ms']:>7.0f}ms"
                f" {s['ttft_p99_ms']:>6.0f}ms {s['itl_p50_ms']:>6.1f}ms {s['itl_p99_ms']:>5.1f}ms"
            )
    targets = check_targets(systems)
    for line in targets["lines"]:
        print(line)
    partial = args.quick or bool(args.skip) or set(args.workloads) != {"1", "2"}
    results = PARTIAL_RESULTS if partial else RESULTS
    results.parent.mkdir(exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {
                    "nproc": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "torch": torch.__version__,
                    "torch_threads": args.threads,
                },
                "quick": args.quick,
                "engine_config": ENGINE,
                "parameters": params,
                "rounds": args.rounds,
                "workloads": systems,
                "every_round": rounds,
                "targets": targets,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {results.relative_to(HERE.parent)}")


def median_round(runs: list[dict[str, float]]) -> dict[str, float]:
    ranked = sorted(runs, key=lambda r: r["tokens_per_s"])
    return ranked[(len(ranked) - 1) // 2]


def check_targets(systems: dict[str, dict[str, Any]]) -> dict[str, Any]:
    w1, w2 = systems["1"], systems["2"]
    lines, out = [], {}
    http1 = w1.get("(B) engine via HTTP API", {}).get("tokens_per_s")
    seq = w1.get("(a) sequential generate()", {}).get("tokens_per_s")
    raw = w1.get("(c) raw batched forward + KV", {}).get("tokens_per_s")
    if http1 and seq and raw:
        out["w1_vs_sequential"] = round(http1 / seq, 2)
        out["w1_vs_raw"] = round(http1 / raw, 3)
        lines.append(
            f"workload 1: engine/HTTP = {http1 / seq:.2f}x (a) (target >= 8x), "
            f"{100 * http1 / raw:.0f}% of (c) (target >= 70%)"
        )
    http2, static2 = w2.get("(B) engine via HTTP API"), w2.get("(a') static batching, 32")
    if http2 and static2:
        ratio = http2["tokens_per_s"] / static2["tokens_per_s"]
        ttft = http2["ttft_p50_ms"] / static2["ttft_p50_ms"]
        out["w2_throughput_vs_static"] = round(ratio, 2)
        out["w2_ttft_p50_vs_static"] = round(ttft, 3)
        lines.append(
            f"workload 2: engine/HTTP = {ratio:.2f}x (a') throughput (target >= 1.5x), "
            f"TTFT p50 {ttft:.2f} of (a')'s (target <= 0.20)"
        )
    out["lines"] = lines
    return out


if __name__ == "__main__":
    main()
