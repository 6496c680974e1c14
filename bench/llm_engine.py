"""Today's local LLM architecture on the engine: a Qwen2.5-0.5B-shaped checkpoint against
transformers baselines, fp32 and int8, and the prefix cache on a shared system prompt.

The checkpoint is built here from a fixed seed (random weights are enough for speed; no
download): Qwen2's architecture with the public Qwen2.5-0.5B sizes, 24 layers, hidden 896,
14 attention heads, 2 key/value heads, intermediate 4864, vocabulary 151,936 (tied output
embedding), and a tokenizer that loads as the Qwen2 tokenizer (transformers picks that class
for every ``qwen2`` checkpoint) but has no merges: a run of letters is one token per letter,
so prompt lengths are exact through the HTTP API; the other ids decode as "w<id>", so the
client counts the tokens of each streamed piece. ``--quick`` keeps every size but the number
of layers (4) and runs shorter workloads: the full run took 53 minutes on a quiet 2-core machine.

Systems:

    (a)  sequential ``model.generate()``, one request at a time (--quick: 4 of the requests)
    (b)  static batching: ``generate()`` over all requests left-padded together
    (c)  the raw batched forward pass with a KV cache (the ceiling of the model's forward)
    (d)  our engine through the HTTP API (``aigc serve``, streaming ``/v1/completions``),
         weights fp32, int8, int8-dynamic and bf16 (``config.engine.weights``); and at
         batch 1 (requests one after another)
    (e)  llama.cpp through llama-cpp-python on the same checkpoint written as GGUF
         (``tests/models/tiny_gguf.write_gguf``: f16; q8_0 by llama.cpp's own quantizer,
         ``llama_model_quantize``): batch 1 in process, and its server
         (``python -m llama_cpp.server``) at 16 concurrent; plus the platform's gguf family
         (llama.cpp logits, our decoding) through the HTTP API at batch 1; and, with
         ``--llama-server PATH``, llama.cpp's own C++ server with one parallel slot per
         request (f32, f16 and q8_0; 16 concurrent and batch 1). End-of-text is banned by
         ``logit_bias`` so every request makes its tokens.

Workloads:

    (1) 16 requests at once, 32-token prompts, 128 new tokens each (--quick: 32)
    (2) Poisson arrivals (as ``bench/engine.py``'s workload 2, at a rate a 2-core machine can
        serve this model at): 24 requests at 0.15/s, prompts of 16–64 tokens, 16–128 new
        tokens (--quick: 16 requests at 0.5/s, 16–64 new tokens); systems (b) and (d)
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
import httpx
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


def gguf_tokenizer() -> PreTrainedTokenizerFast:
    """``letter_tokenizer`` for the GGUF file: llama.cpp wants at least one merge, so the
    unused id ``VOCAB - 2`` becomes two NUL bytes, merged from two (never in a prompt)."""
    nul = ALPHABET[0]  # byte 0x00's character
    vocab = {ch: i for i, ch in enumerate(ALPHABET)}
    vocab |= {f"w{i}": i for i in range(256, VOCAB - 2)} | {nul + nul: VOCAB - 2, EOS: VOCAB - 1}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(nul, nul)]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def text_of(ids: list[int]) -> str:
    return "".join(ALPHABET[i] for i in ids)


def qwen_config(layers: int) -> Qwen2Config:
    """Qwen2.5-0.5B's sizes with ``layers`` layers, end-of-text the last id."""
    return Qwen2Config(
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


def build_checkpoint(out: Path, layers: int) -> Path:
    torch.manual_seed(0)
    Qwen2ForCausalLM(qwen_config(layers)).eval().save_pretrained(out)
    letter_tokenizer().save_pretrained(out)
    return out


# --- workloads -------------------------------------------------------------------------------


def workload_1(quick: bool) -> list[Req]:
    rng = random.Random(1)
    new = 32 if quick else 128
    return [Req(0.0, [rng.choice(LETTERS) for _ in range(32)], new) for _ in range(16)]


def workload_poisson(quick: bool) -> list[Req]:
    rng = random.Random(2)
    count, rate, most = (16, 0.5, 64) if quick else (24, 0.15, 128)
    t, out = 0.0, []
    for _ in range(count):
        t += rng.expovariate(rate)
        prompt = [rng.choice(LETTERS) for _ in range(rng.randint(16, 64))]
        out.append(Req(t, prompt, rng.randint(16, most)))
    return out


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
    session: aiohttp.ClientSession,
    base_url: str,
    r: Req,
    start: float,
    out: list[float],
    key: str,
    model: str = "hf-bench",
) -> None:
    delay = r.arrival - (time.perf_counter() - start)
    if delay > 0:  # workload 2: the request arrives when its time comes
        await asyncio.sleep(delay)
    body: dict[str, Any] = {
        "model": model,
        "prompt": text_of(r.prompt),
        "max_tokens": r.new_tokens,
        "temperature": 0,
        "stream": True,
    }
    if model == "llama.cpp":  # its server knows no min_tokens: end-of-text is banned instead
        body["logit_bias"] = {str(VOCAB - 1): -100.0}
    else:
        body["min_tokens"] = r.new_tokens
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


def run_http(
    checkpoint: Path,
    engine: dict[str, Any] | None,
    reqs: list[Req],
    warm: list[Req],
    sequential: bool = False,
) -> Timings:
    """Through ``aigc serve``: the checkpoint on the engine (``engine`` its config), or a GGUF
    file on the gguf family (``engine`` None); ``sequential``: one request at a time."""
    data = Path(tempfile.mkdtemp(prefix="aigc-bench-llm-")) / "data"
    server = Server(
        data,
        new_admin_key(),
        AIGC_IMPORT_ROOTS=str(checkpoint.parent),
        AIGC_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS=str(torch.get_num_threads()),
    ).start(timeout=600)  # a loaded machine may take minutes to import everything
    try:
        name = "hf-bench" if engine is not None else "gguf-bench"
        config: dict[str, Any] = {"path": str(checkpoint)}
        if engine is not None:
            config["engine"] = engine
        else:
            config["n_threads"] = torch.get_num_threads()
        # Registering a GGUF rebuilds its tokenizer (150k tokens here): more than the helper's
        # 30 s on a loaded machine.
        made = httpx.post(
            f"{server.base_url}/api/models",
            headers={"Authorization": f"Bearer {server.admin_key}"},
            json={"id": name, "config": config},
            timeout=600,
        )
        if made.status_code != 201:
            raise RuntimeError(made.text)
        return asyncio.run(drive(server.base_url, server.admin_key, name, reqs, warm, sequential))
    finally:
        server.stop()


async def drive(
    base_url: str, key: str, model: str, reqs: list[Req], warm: list[Req], sequential: bool
) -> Timings:
    """Warm up (loads the model; for P, warms the system prompt), then the timed workload:
    all at once, or one request after another."""

    async def run(work: list[Req]) -> Timings:
        timings = Timings(arrivals=[r.arrival for r in work], token_times=[[] for _ in work])
        # One after another: a new connection each (llama-server closes an idle keep-alive
        # connection, which the next request would find dead).
        connector = aiohttp.TCPConnector(limit=len(work) + 4, force_close=sequential)
        timeout = aiohttp.ClientTimeout(total=3600)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            start = time.perf_counter()
            calls = [
                stream_one(session, base_url, r, start, times, key, model)
                for r, times in zip(work, timings.token_times, strict=True)
            ]
            if sequential:
                for call in calls:
                    await call
            else:
                await asyncio.gather(*calls)
            timings.wall = time.perf_counter() - start
        return timings

    await run(warm)
    return await run(reqs)


# --- (e) llama.cpp through llama-cpp-python --------------------------------------------------


def gguf_files(checkpoint: Path) -> dict[str, Path]:
    """The checkpoint as GGUF: f16 written by the tests' writer, q8_0 quantized from it by
    llama.cpp (``llama_model_quantize``, as its ``llama-quantize`` tool does)."""
    import llama_cpp
    from tests.models.tiny_gguf import write_gguf

    files = {p: checkpoint.parent / f"{checkpoint.name}-{p}.gguf" for p in ("f32", "f16", "q8_0")}
    for written in ("f32", "f16"):
        if not files[written].exists():
            model = Qwen2ForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
            write_gguf(model, gguf_tokenizer(), files[written], written)
    if not files["q8_0"].exists():
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
        params.nthread = torch.get_num_threads()
        rc = llama_cpp.llama_model_quantize(
            str(files["f16"]).encode(), str(files["q8_0"]).encode(), params
        )
        if rc != 0:
            raise RuntimeError(f"llama_model_quantize failed ({rc})")
    return files


def run_llamacpp_batch1(path: Path, reqs: list[Req], warm: list[Req]) -> Timings:
    """llama-cpp-python in process, one request after another, streamed token by token."""
    import llama_cpp

    llm = llama_cpp.Llama(
        str(path), n_ctx=2048, n_threads=torch.get_num_threads(), n_batch=512, verbose=False
    )

    def run(work: list[Req]) -> Timings:
        timings = Timings(arrivals=[r.arrival for r in work], token_times=[[] for _ in work])
        start = time.perf_counter()
        for r, times in zip(work, timings.token_times, strict=True):
            llm.reset()  # no reuse of the previous prompt's cache
            for _ in llm.create_completion(
                r.prompt,  # token ids
                max_tokens=r.new_tokens,
                temperature=0,
                logit_bias={VOCAB - 1: -100.0},
                stream=True,
            ):
                times.append(time.perf_counter() - start)
        timings.wall = time.perf_counter() - start
        return timings

    run(warm[:1])
    try:
        return run(reqs)
    finally:
        llm.close()


def run_llamacpp_server(path: Path, reqs: list[Req], warm: list[Req]) -> Timings:
    """``python -m llama_cpp.server`` (the ``[server]`` extra), all requests at once over HTTP.
    It holds one llama.cpp context and serves one request at a time (no parallel slots as
    llama.cpp's own C++ ``llama-server -np`` has)."""
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--n_ctx", "4096"]
    cmd += ["--n_threads", str(torch.get_num_threads()), "--verbose", "False"]
    return serve_and_drive(
        lambda port: [*cmd, "--host", "127.0.0.1", "--port", str(port)], reqs, warm
    )


def run_llama_server(path: Path, reqs: list[Req], warm: list[Req], sequential: bool) -> Timings:
    """llama.cpp's own C++ server (``llama-server``, built from the llama.cpp that
    llama-cpp-python vendors; ``--llama-server``) with one parallel slot per request, so it
    batches concurrent requests as our engine does; ``sequential``: one after another."""
    binary = os.environ.get("AIGC_BENCH_LLAMA_SERVER")
    if not binary:
        raise RuntimeError("no llama-server binary: pass --llama-server PATH")
    slots = 1 if sequential else len(reqs)
    context = slots * 256  # each slot: a 32-token prompt and 128 new tokens fit in 256

    def cmd(port: int) -> list[str]:
        return [
            binary,
            *("--model", str(path), "--ctx-size", str(context), "--parallel", str(slots)),
            *("--threads", str(torch.get_num_threads()), "--batch-size", "512"),
            *("--host", "127.0.0.1", "--port", str(port), "--no-webui"),
        ]

    return serve_and_drive(cmd, reqs, warm, sequential)


def serve_and_drive(
    command: Any, reqs: list[Req], warm: list[Req], sequential: bool = False
) -> Timings:
    """Start an OpenAI-compatible llama.cpp server (``command(port)``), wait for its model
    list, drive the workload through ``/v1/completions``, stop it."""
    from tests.e2e.server import free_port

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="aigc-bench-llamacpp-")) / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command(port), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama.cpp server did not start")
            time.sleep(0.2)
        return asyncio.run(drive(base, "none", "llama.cpp", reqs, warm, sequential))
    finally:
        proc.terminate()
        proc.wait(30)


SYSTEMS: dict[str, tuple[str, Any]] = {  # name: (workload, how it runs)
    "(a) sequential generate()": ("1", run_sequential),
    "(b) static batching generate()": ("1", run_static),
    "(c) raw batched forward + KV": ("1", run_raw),
    "(d) engine via HTTP, fp32": ("1", {"weights": "fp32"}),
    "(d) engine via HTTP, int8": ("1", {"weights": "int8"}),
    "(d) engine via HTTP, int8-dynamic": ("1", {"weights": "int8-dynamic"}),
    "(d) engine via HTTP, bf16": ("1", {"weights": "bf16"}),
    "(b) static batching generate(), Poisson": ("2", run_static),
    "(d) engine via HTTP, fp32, Poisson": ("2", {"weights": "fp32"}),
    "(d) engine via HTTP, int8, Poisson": ("2", {"weights": "int8"}),
    "(d) engine via HTTP, int8-dynamic, Poisson": ("2", {"weights": "int8-dynamic"}),
    "(P) engine via HTTP, no prefix cache": ("P", {"weights": "fp32", "prefix_cache_mb": 0}),
    "(P) engine via HTTP, prefix cache": ("P", {"weights": "fp32", "prefix_cache_mb": 512}),
    "(d) engine via HTTP, fp32, batch 1": ("B", {"weights": "fp32"}),
    "(d) engine via HTTP, int8, batch 1": ("B", {"weights": "int8"}),
    "(d) engine via HTTP, int8-dynamic, batch 1": ("B", {"weights": "int8-dynamic"}),
    "(d) engine via HTTP, bf16, batch 1": ("B", {"weights": "bf16"}),
    "(e) llama.cpp f16, batch 1": ("B", ("f16", run_llamacpp_batch1)),
    "(e) llama.cpp q8_0, batch 1": ("B", ("q8_0", run_llamacpp_batch1)),
    "(e) llama.cpp server f16, 16 concurrent": ("1", ("f16", run_llamacpp_server)),
    "(e) llama.cpp server q8_0, 16 concurrent": ("1", ("q8_0", run_llamacpp_server)),
    "(e) gguf family via HTTP, f16, batch 1": ("B", ("f16", "http")),
    "(e) llama-server f32, 16 concurrent": ("1", ("f32", "llama-server")),
    "(e) llama-server f16, 16 concurrent": ("1", ("f16", "llama-server")),
    "(e) llama-server q8_0, 16 concurrent": ("1", ("q8_0", "llama-server")),
    "(e) llama-server f32, batch 1": ("B", ("f32", "llama-server")),
    "(e) llama-server f16, batch 1": ("B", ("f16", "llama-server")),
    "(e) llama-server q8_0, batch 1": ("B", ("q8_0", "llama-server")),
}
BATCH1_REQUESTS = 4  # workload B: the first requests of workload 1, one after another


def run_one(checkpoint: Path, system: str, quick: bool) -> dict[str, float]:
    workload, how = SYSTEMS[system]
    if workload == "P":
        reqs, warm = workload_prefix(quick), workload_prefix(quick, seed=4)[:4]
    elif workload == "2":  # warmed by two requests of workload 1, at once
        reqs, warm = workload_poisson(quick), workload_1(quick)[:2]
    else:
        reqs = workload_1(quick)
        warm = reqs[:2]
    if workload == "B":
        reqs = reqs[:BATCH1_REQUESTS]
    if isinstance(how, dict):
        engine = {**ENGINE, **how}
        return run_http(checkpoint, engine, reqs, warm, sequential=workload == "B").summary()
    if isinstance(how, tuple):
        path = gguf_files(checkpoint)[how[0]]
        if how[1] == "http":
            return run_http(path, None, reqs, warm[:1], sequential=True).summary()
        if how[1] == "llama-server":
            batch1 = workload == "B"
            return run_llama_server(path, reqs, warm[:1], sequential=batch1).summary()
        return how[1](path, reqs, warm).summary()
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
    dynamic = quality.validation_loss(model, corpus, "int8-dynamic")
    bf16 = quality.validation_loss(model.to(torch.bfloat16), corpus)
    return {
        "model": sizes,
        "train_s": round(trained, 1),
        "valid_loss_fp32": round(fp32, 4),
        "valid_loss_int8": round(int8, 4),
        "valid_loss_int8_dynamic": round(dynamic, 4),
        "valid_loss_bf16": round(bf16, 4),
        "int8_vs_fp32": round(int8 / fp32 - 1, 5),
        "int8_dynamic_vs_fp32": round(dynamic / fp32 - 1, 5),
        "bf16_vs_fp32": round(bf16 / fp32 - 1, 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--only",
        nargs="*",
        default=["1", "2", "B", "P", "Q"],
        help="1, 2 (Poisson), B (batch 1), P, Q (quality)",
    )
    parser.add_argument("--skip", nargs="*", default=[], help="systems to skip: a b c d e")
    parser.add_argument(
        "--systems", nargs="*", default=[], help="only the systems whose names contain one of these"
    )
    parser.add_argument("--one", nargs=2, metavar=("CHECKPOINT", "SYSTEM"))
    parser.add_argument("--out", type=Path, help="results file (default: by --quick)")
    parser.add_argument(
        "--llama-server",
        type=Path,
        help="llama.cpp's C++ server binary for the llama-server rows (bench/README.md: how to "
        "build it from the llama.cpp that llama-cpp-python vendors); without it they are skipped",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.llama_server:
        os.environ["AIGC_BENCH_LLAMA_SERVER"] = str(args.llama_server.resolve())
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
            if args.systems and not any(part in system for part in args.systems):
                continue
            if "llama-server" in system and "AIGC_BENCH_LLAMA_SERVER" not in os.environ:
                continue
            t = time.perf_counter()
            child = [sys.executable, __file__, "--one", str(checkpoint), system]
            child += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
            done = subprocess.run(child, capture_output=True, text=True)
            if done.returncode != 0:  # reported, and the other systems still run
                print(f"  round {i + 1} {system}: FAILED\n{done.stderr[-3000:]}", flush=True)
                continue
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
    results = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    results.parent.mkdir(exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {
                    **machine(["torch", "transformers", "llama_cpp"]),
                    "torch_threads": args.threads,
                },
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
    print(f"written to {results}")


def compare(systems: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The issue's targets as ratios, whatever they are."""
    tps = {name: s["tokens_per_s"] for name, s in systems.items()}
    out: dict[str, Any] = {"lines": []}
    seq, raw = tps.get("(a) sequential generate()"), tps.get("(c) raw batched forward + KV")
    fp32 = tps.get("(d) engine via HTTP, fp32")
    if fp32 and seq:
        out["fp32_vs_sequential"] = round(fp32 / seq, 2)
        out["lines"].append(f"(d) fp32 = {fp32 / seq:.2f}x (a) (target >= 6x)")
    if fp32 and raw:
        out["fp32_vs_raw"] = round(fp32 / raw, 3)
        out["lines"].append(f"(d) fp32 = {100 * fp32 / raw:.0f}% of (c) (target >= 70%)")
    for name in ("int8", "int8-dynamic", "bf16"):
        other = tps.get(f"(d) engine via HTTP, {name}")
        if fp32 and other:
            out[f"{name.replace('-', '_')}_vs_fp32"] = round(other / fp32, 2)
            target = " (target >= 1.5x)" if name.startswith("int8") else ""
            out["lines"].append(f"(d) {name} = {other / fp32:.2f}x fp32{target}")
    one = {w: decode_rate(systems.get(f"(d) engine via HTTP, {w}, batch 1")) for w in WEIGHTS}
    for name in ("int8", "int8-dynamic"):
        if one["fp32"] and one[name]:  # the "int8 decode": batch-1 decode speed
            ratio = one[name] / one["fp32"]
            out[f"{name.replace('-', '_')}_vs_fp32_batch1_decode"] = round(ratio, 2)
            out["lines"].append(f"(d) {name} batch-1 decode = {ratio:.2f}x fp32 (>= 1.5x)")
    cold = systems.get("(P) engine via HTTP, no prefix cache")
    hot = systems.get("(P) engine via HTTP, prefix cache")
    if cold and hot:
        ratio = hot["ttft_p50_ms"] / cold["ttft_p50_ms"]
        out["prefix_ttft_p50_ratio"] = round(ratio, 3)
        out["lines"].append(f"(P) TTFT p50 with the cache = {ratio:.2f} of without (<= 0.25)")
    static = systems.get("(b) static batching generate(), Poisson")
    for weights in ("fp32", "int8"):
        engine = systems.get(f"(d) engine via HTTP, {weights}, Poisson")
        if static and engine:  # no target: how much sooner a request arriving alone starts
            ratio = engine["ttft_p50_ms"] / static["ttft_p50_ms"]
            out[f"poisson_ttft_p50_{weights}_vs_static"] = round(ratio, 3)
            out["lines"].append(f"(2) {weights} TTFT p50 = {ratio:.2f} of static batching's")
    out["lines"] += against_llamacpp(systems, out)
    return out


WEIGHTS = ("fp32", "bf16", "int8", "int8-dynamic")
# The same precision on both sides (fp32 against f32, 16-bit against 16-bit, 8-bit weights
# against q8_0), and fp32 against f16 as the first comparison ran.
PAIRS = (
    ("fp32", "f32"),
    ("fp32", "f16"),
    ("bf16", "f16"),
    ("int8", "q8_0"),
    ("int8-dynamic", "q8_0"),
)


def decode_rate(summary: dict[str, float] | None) -> float | None:
    """Batch-1 decode tokens/s: one over the median gap between tokens."""
    if not summary or not summary.get("itl_p50_ms"):
        return None
    return 1000.0 / summary["itl_p50_ms"]


def against_llamacpp(systems: dict[str, dict[str, float]], out: dict[str, Any]) -> list[str]:
    """(d) against (e) at the same precision (``PAIRS``):
    aggregate tokens/s at 16 concurrent (target >= 1x), batch-1 decode (target >= 0.5x); each
    against llama-cpp-python (its server, and in process) and against llama.cpp's C++ server."""
    lines = []
    for ours, theirs in PAIRS:
        engine = systems.get(f"(d) engine via HTTP, {ours}")
        one = decode_rate(systems.get(f"(d) engine via HTTP, {ours}, batch 1"))
        for who, key in (("llama.cpp server", "llamacpp"), ("llama-server", "llama_server")):
            server = systems.get(f"(e) {who} {theirs}, 16 concurrent")
            if engine and server:
                ratio = engine["tokens_per_s"] / server["tokens_per_s"]
                out[f"{ours}_vs_{key}_{theirs}_16"] = round(ratio, 2)
                lines.append(
                    f"(d) {ours} / (e) {who} {theirs}, 16 concurrent = {ratio:.2f}x (>= 1)"
                )
        for who, key in (("llama.cpp", "llamacpp"), ("llama-server", "llama_server")):
            cpp = decode_rate(systems.get(f"(e) {who} {theirs}, batch 1"))
            if one and cpp:
                out[f"{ours}_vs_{key}_{theirs}_batch1"] = round(one / cpp, 2)
                lines.append(
                    f"(d) {ours} / (e) {who} {theirs}, batch-1 decode = {one / cpp:.2f}x (>= 0.5)"
                )
    family = decode_rate(systems.get("(e) gguf family via HTTP, f16, batch 1"))
    cpp = decode_rate(systems.get("(e) llama.cpp f16, batch 1"))
    if family and cpp:
        out["gguf_family_vs_llamacpp_batch1"] = round(family / cpp, 2)
        lines.append(f"(e) gguf family / llama.cpp f16, batch-1 decode = {family / cpp:.2f}x")
    return lines


if __name__ == "__main__":
    main()
