"""Today's local LLM architecture on the engine: a Qwen2.5-0.5B-shaped checkpoint against
transformers baselines, fp32 and int8, and the prefix cache on a shared system prompt.

The checkpoint is built here from a fixed seed (random weights are enough for speed; no
download): Qwen2's architecture with the public Qwen2.5-0.5B sizes, 24 layers, hidden 896,
14 attention heads, 2 key/value heads, intermediate 4864, vocabulary 151,936 (tied output
embedding), and a tokenizer that loads as the Qwen2 tokenizer (transformers picks that class
for every ``qwen2`` checkpoint) but has no merges: a run of letters is one token per letter,
so prompt lengths are exact through the HTTP API; the other ids decode as "w<id>", so the
client counts the tokens of each streamed piece. ``--quick`` keeps every size but the number
of layers (4) and runs shorter workloads: the full run takes hours on a loaded 2-core machine.

Systems:

    (a)  sequential ``model.generate()``, one request at a time (--quick: 4 of the requests)
    (b)  static batching: ``generate()`` over all requests left-padded together
    (c)  the raw batched forward pass with a KV cache (the ceiling of the model's forward)
    (d)  our engine through the HTTP API (``aigc serve``, streaming ``/v1/completions``),
         weights fp32 and int8 (``config.engine.weights``)

Workloads:

    (1) 16 requests at once, 32-token prompts, 128 new tokens each (--quick: 32)
    (P) shared prefix: 32 requests at once, each a 1,024-token system prompt and its own
        16–32-token question, 8 new tokens (--quick: 16 requests, a 256-token prompt); the
        engine with and without its prefix cache. The server first serves the same system
        prompt with other questions, untimed (a deployed system prompt is warm).

Quality: a small Llama trained on the pydoc topics (``aigc.models.engine.quality``), its
validation loss through the engine's passes in fp32, int8 and bf16.

Each system runs in a fresh process, one round (--rounds for more; rows are the median round).
Results: ``bench/results/llm_engine.json`` (a --quick run: ``llm_engine-quick.json``). A
benchmark, not a test: nothing asserts on timing.

    nice python bench/llm_engine.py --quick
    python bench/llm_engine.py --only P --quick   # one workload
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.e2e.server, bench.engine, bench.benchlib

from bench.benchlib import machine  # noqa: E402
from bench.engine import (  # noqa: E402
    Req,
    Timings,
    median_round,
    run_raw,
    run_sequential,
    run_static,
)
from tests.e2e.server import Server, new_admin_key  # noqa: E402

RESULTS = HERE / "results" / "llm_engine.json"
QUICK_RESULTS = HERE / "results" / "llm_engine-quick.json"
VOCAB = 151936
WORD = re.compile(r"w\d+")
ENGINE: dict[str, Any] = {
    "max_running": 32,
    "token_budget": 2048,
    "max_queue": 256,
    "kv_cache_mb": 1024,
}


# --- the checkpoint --------------------------------------------------------------------------


ALPHABET = sorted(pre_tokenizers.ByteLevel.alphabet())  # ids 0-255: the byte characters
LETTERS = [ALPHABET.index(c) for c in "abcdefghijklmnopqrstuvwxyz"]
EOS = "<|endoftext|>"


def letter_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {ch: i for i, ch in enumerate(ALPHABET)}
    vocab |= {f"w{i}": i for i in range(256, VOCAB - 1)} | {EOS: VOCAB - 1}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def text_of(ids: list[int]) -> str:
    return "".join(ALPHABET[i] for i in ids)


def build_checkpoint(out: Path, layers: int) -> Path:
    torch.manual_seed(0)
    config = Qwen2Config(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=layers,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=VOCAB,
        max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
    )
    Qwen2ForCausalLM(config).eval().save_pretrained(out)
    letter_tokenizer().save_pretrained(out)
    return out


# --- workloads -------------------------------------------------------------------------------


def workload_1(quick: bool) -> list[Req]:
    rng = random.Random(1)
    new = 32 if quick else 128
    return [Req(0.0, [rng.choice(LETTERS) for _ in range(32)], new) for _ in range(16)]


def workload_prefix(quick: bool, seed: int = 3) -> list[Req]:
    system_rng = random.Random(7)  # one system prompt for every run, warm-up included
    system = [system_rng.choice(LETTERS) for _ in range(256 if quick else 1024)]
    rng = random.Random(seed)
    count = 16 if quick else 32
    return [
        Req(0.0, system + [rng.choice(LETTERS) for _ in range(rng.randint(16, 32))], 8)
        for _ in range(count)
    ]


# --- our engine through the HTTP API ---------------------------------------------------------


async def stream_one(
    session: aiohttp.ClientSession, base_url: str, r: Req, start: float, out: list[float], key: str
) -> None:
    body = {
        "model": "hf-bench",
        "prompt": text_of(r.prompt),
        "max_tokens": r.new_tokens,
        "min_tokens": r.new_tokens,
        "temperature": 0,
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {key}"}
    async with session.post(f"{base_url}/v1/completions", json=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:300]!r}")
        async for line in resp.content:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            for choice in json.loads(line[6:]).get("choices") or []:
                text = choice.get("text", "")
                if text:  # "w<id>" per token (a byte token, rare, counts as one piece)
                    n = max(1, len(WORD.findall(text)))
                    out.extend([time.perf_counter() - start] * n)


def run_http(checkpoint: Path, engine: dict[str, Any], reqs: list[Req], warm: list[Req]) -> Timings:
    data = Path(tempfile.mkdtemp(prefix="aigc-bench-llm-")) / "data"
    server = Server(
        data,
        new_admin_key(),
        AIGC_IMPORT_ROOTS=str(checkpoint.parent),
        AIGC_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS=str(torch.get_num_threads()),
    ).start()
    try:
        config = {"path": str(checkpoint), "engine": engine}
        made = server.api("POST", "/api/models", json={"id": "hf-bench", "config": config})
        if made.status_code != 201:
            raise RuntimeError(made.text)

        async def run(work: list[Req]) -> Timings:
            timings = Timings(arrivals=[r.arrival for r in work], token_times=[[] for _ in work])
            connector = aiohttp.TCPConnector(limit=len(work) + 4)
            timeout = aiohttp.ClientTimeout(total=3600)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                start = time.perf_counter()
                await asyncio.gather(
                    *(
                        stream_one(session, server.base_url, r, start, times, server.admin_key)
                        for r, times in zip(work, timings.token_times, strict=True)
                    )
                )
                timings.wall = time.perf_counter() - start
            return timings

        asyncio.run(run(warm))  # loads the model (and, for P, warms the system prompt)
        return asyncio.run(run(reqs))
    finally:
        server.stop()


SYSTEMS: dict[str, tuple[str, Any]] = {  # name: (workload, how it runs)
    "(a) sequential generate()": ("1", run_sequential),
    "(b) static batching generate()": ("1", run_static),
    "(c) raw batched forward + KV": ("1", run_raw),
    "(d) engine via HTTP, fp32": ("1", {"weights": "fp32"}),
    "(d) engine via HTTP, int8": ("1", {"weights": "int8"}),
    "(P) engine via HTTP, no prefix cache": ("P", {"weights": "fp32", "prefix_cache_mb": 0}),
    "(P) engine via HTTP, prefix cache": ("P", {"weights": "fp32", "prefix_cache_mb": 512}),
}


def run_one(checkpoint: Path, system: str, quick: bool) -> dict[str, float]:
    workload, how = SYSTEMS[system]
    if workload == "P":
        reqs, warm = workload_prefix(quick), workload_prefix(quick, seed=4)[:4]
    else:
        reqs = workload_1(quick)
        warm = reqs[:2]
    if isinstance(how, dict):
        return run_http(checkpoint, {**ENGINE, **how}, reqs, warm).summary()
    if how is run_sequential and quick:
        reqs = reqs[:4]
    model = Qwen2ForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    how(model, warm[:1] if how is run_sequential else [Req(0, r.prompt, 4) for r in warm])
    return how(model, reqs).summary()


def quality_figures(quick: bool) -> dict[str, Any]:
    from aigc.models.engine import quality

    corpus = quality.pydoc_corpus()
    sizes = {"hidden": 96, "layers": 3, "steps": 300} if quick else {"hidden": 128, "layers": 4}
    sizes.setdefault("steps", 800)
    start = time.perf_counter()
    model = quality.train_llama(corpus, batch=16, **sizes)
    trained = time.perf_counter() - start
    fp32 = quality.validation_loss(model, corpus)
    int8 = quality.validation_loss(model, corpus, "int8")
    bf16 = quality.validation_loss(model.to(torch.bfloat16), corpus)
    return {
        "model": sizes,
        "train_s": round(trained, 1),
        "valid_loss_fp32": round(fp32, 4),
        "valid_loss_int8": round(int8, 4),
        "valid_loss_bf16": round(bf16, 4),
        "int8_vs_fp32": round(int8 / fp32 - 1, 5),
        "bf16_vs_fp32": round(bf16 / fp32 - 1, 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=["1", "P", "Q"], help="1, P, Q (quality)")
    parser.add_argument("--skip", nargs="*", default=[], help="systems to skip: a b c d")
    parser.add_argument("--one", nargs=2, metavar=("CHECKPOINT", "SYSTEM"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:  # a child: one measurement, its summary as JSON on the last line
        print(json.dumps(run_one(Path(args.one[0]), args.one[1], args.quick)))
        return
    layers = 4 if args.quick else 24
    root = Path(tempfile.mkdtemp(prefix="aigc-bench-llm-ckpt-"))
    checkpoint = build_checkpoint(root / f"qwen2-shaped-{layers}l", layers)
    print(f"checkpoint: Qwen2.5-0.5B shapes, {layers} layers; torch threads {args.threads}")
    rounds: dict[str, list[dict[str, float]]] = {}
    for i in range(args.rounds):
        for system, (workload, _) in SYSTEMS.items():
            short = system.split(" ")[0].strip("()").lower()
            if workload not in args.only or short in args.skip:
                continue
            t = time.perf_counter()
            child = [sys.executable, __file__, "--one", str(checkpoint), system]
            child += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
            done = subprocess.run(child, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{system}:\n{done.stderr[-3000:]}")
            rounds.setdefault(system, []).append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  round {i + 1} {system}: {time.perf_counter() - t:.0f}s", flush=True)
    systems = {name: median_round(runs) for name, runs in rounds.items()}
    header = f"{'system':40} {'tok/s':>8} {'TTFT p50':>9} {'p99':>8} {'ITL p50':>8} {'p99':>7}"
    print("\n" + header + "\n" + "-" * len(header))
    for name, s in systems.items():
        print(
            f"{name:40} {s['tokens_per_s']:>8.1f} {s['ttft_p50_ms']:>7.0f}ms"
            f" {s['ttft_p99_ms']:>6.0f}ms {s['itl_p50_ms']:>6.1f}ms {s['itl_p99_ms']:>5.1f}ms"
        )
    ratios = compare(systems)
    quality_result = quality_figures(args.quick) if "Q" in args.only else None
    for line in ratios["lines"]:
        print(line)
    if quality_result:
        print(f"quality: {quality_result}")
    results = QUICK_RESULTS if args.quick else RESULTS
    results.parent.mkdir(exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {**machine(["torch", "transformers"]), "torch_threads": args.threads},
                "quick": args.quick,
                "layers": layers,
                "engine_config": ENGINE,
                "systems": systems,
                "every_round": rounds,
                "ratios": ratios,
                "quality": quality_result,
            },
            indent=2,
        )
    )
    print(f"written to {results.relative_to(HERE.parent)}")


def compare(systems: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The issue's targets as ratios, whatever they are."""
    tps = {name: s["tokens_per_s"] for name, s in systems.items()}
    out: dict[str, Any] = {"lines": []}
    seq, raw = tps.get("(a) sequential generate()"), tps.get("(c) raw batched forward + KV")
    fp32, int8 = tps.get("(d) engine via HTTP, fp32"), tps.get("(d) engine via HTTP, int8")
    if fp32 and seq:
        out["fp32_vs_sequential"] = round(fp32 / seq, 2)
        out["lines"].append(f"(d) fp32 = {fp32 / seq:.2f}x (a) (target >= 6x)")
    if fp32 and raw:
        out["fp32_vs_raw"] = round(fp32 / raw, 3)
        out["lines"].append(f"(d) fp32 = {100 * fp32 / raw:.0f}% of (c) (target >= 70%)")
    if fp32 and int8:
        out["int8_vs_fp32"] = round(int8 / fp32, 2)
        out["lines"].append(f"(d) int8 = {int8 / fp32:.2f}x fp32 (target >= 1.5x)")
    cold = systems.get("(P) engine via HTTP, no prefix cache")
    hot = systems.get("(P) engine via HTTP, prefix cache")
    if cold and hot:
        ratio = hot["ttft_p50_ms"] / cold["ttft_p50_ms"]
        out["prefix_ttft_p50_ratio"] = round(ratio, 3)
        out["lines"].append(f"(P) TTFT p50 with the cache = {ratio:.2f} of without (<= 0.25)")
    return out


if __name__ == "__main__":
    main()
