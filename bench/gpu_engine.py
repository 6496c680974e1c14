"""The engine on a CUDA GPU: the Qwen2.5-0.5B-shaped checkpoint of ``bench/llm_engine.py``
(random weights, 24 layers) against transformers on the same GPU, in process.

Systems (workload 1 of llm_engine.py: 16 requests at once, 32-token prompts, 128 new tokens;
end-of-text never ends a request):

    (a)  sequential ``model.generate()``, one request at a time (4 of the requests)
    (b)  static batching: ``generate()`` over all requests left-padded together
    (c)  the raw batched forward pass with a KV cache (the ceiling of the model's forward)
    (d)  our engine in process (requests read on one event loop, as the server reads them):
         bf16 (what ``weights: auto`` picks on a GPU) and fp32; and at batch 1 (4 requests
         one after another)

plus 64 requests at once, (b) against (d) bf16, and the shared-prefix workload (P) of
llm_engine.py (32 requests, a 1,024-token system prompt each, 8 new tokens) with and without
the prefix cache, the system prompt served once before, untimed.

In process rather than through ``aigc serve``: the GPU machine this runs on has PyTorch and
transformers but not the server's packages, and the HTTP layer is measured on the CPU by
llm_engine.py. Needs a CUDA GPU. Results: ``bench/results/gpu_engine.json``.

    python bench/gpu_engine.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import Qwen2ForCausalLM

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.benchlib import machine  # noqa: E402
from bench.engine import Req, Timings, drive_engine, run_raw, run_sequential, run_static  # noqa: E402
from bench.llm_engine import ENGINE, LETTERS, qwen_config, workload_1, workload_prefix  # noqa: E402

from aigc.models.engine.engine import Engine, EngineConfig  # noqa: E402

RESULTS = HERE / "results" / "gpu_engine.json"


def wide_workload(count: int = 64) -> list[Req]:
    """``count`` requests at once, as workload 1 (another seed)."""
    rng = random.Random(5)
    return [Req(0.0, [rng.choice(LETTERS) for _ in range(32)], 128) for _ in range(count)]


def engine_run(
    model: Any, reqs: list[Req], warm: list[Req], batch1: bool = False, **config: Any
) -> tuple[Timings, Engine]:
    """A fresh engine, warmed on ``warm`` (untimed), then ``reqs``: all at once, or one after
    another with ``batch1``. The engine is closed; its stats stay readable."""
    engine = Engine(model, [model.config.eos_token_id], EngineConfig(**{**ENGINE, **config}))
    try:
        drive_engine(engine, warm)
        if not batch1:
            return drive_engine(engine, reqs), engine
        whole = Timings()
        for r in reqs:
            offset = whole.wall
            one = drive_engine(engine, [r])
            whole.arrivals.append(offset)
            whole.token_times.append([offset + t for t in one.token_times[0]])
            whole.wall += one.wall
        return whole, engine
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the script itself")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_engine.py needs a CUDA GPU")
    torch.manual_seed(0)
    with torch.device(args.device):
        model = Qwen2ForCausalLM(qwen_config(args.layers)).eval()
    work, wide, prefix = workload_1(False), wide_workload(), workload_prefix(False)
    short = [Req(0.0, r.prompt, 8) for r in work[:2]]
    rows: dict[str, dict[str, float]] = {}

    def record(name: str, timings: Timings) -> None:
        rows[name] = timings.summary()
        print(f"{name:44s} {json.dumps(rows[name])}", flush=True)

    record("(d) engine fp32, 16 at once", engine_run(model, work, short, weights="fp32")[0])
    record("(d) engine fp32, batch 1", engine_run(model, work[:4], short, True, weights="fp32")[0])
    model.to(torch.bfloat16)  # the rest in bf16, transformers' baselines too
    run_sequential(model, short[:1])
    record("(a) generate(), sequential", run_sequential(model, work[:4]))
    run_static(model, short)
    record("(b) generate(), static batch of 16", run_static(model, work))
    record("(c) raw batched forward, 16", run_raw(model, work))
    record("(d) engine bf16, 16 at once", engine_run(model, work, short, weights="bf16")[0])
    record("(d) engine bf16, batch 1", engine_run(model, work[:4], short, True, weights="bf16")[0])
    record("(b) generate(), static batch of 64", run_static(model, wide, batch_size=64))
    record("(d) engine bf16, 64 at once", engine_run(model, wide, short, max_running=64)[0])
    warm = workload_prefix(False, seed=4)[:4]
    plain, _ = engine_run(model, prefix, warm, prefix_cache_mb=0)
    record("(P) engine bf16, no prefix cache", plain)
    cached, engine = engine_run(model, prefix, warm, prefix_cache_mb=1024)
    record("(P) engine bf16, prefix cache", cached)

    def ratio(a: str, b: str, key: str = "tokens_per_s") -> float:
        return round(rows[a][key] / rows[b][key], 2)

    figures = {
        "engine bf16 / sequential generate(), tok/s at 16": ratio(
            "(d) engine bf16, 16 at once", "(a) generate(), sequential"
        ),
        "engine bf16 / static batch, tok/s at 16": ratio(
            "(d) engine bf16, 16 at once", "(b) generate(), static batch of 16"
        ),
        "engine bf16 / raw forward, tok/s at 16": ratio(
            "(d) engine bf16, 16 at once", "(c) raw batched forward, 16"
        ),
        "engine bf16 / static batch, tok/s at 64": ratio(
            "(d) engine bf16, 64 at once", "(b) generate(), static batch of 64"
        ),
        "engine bf16 / fp32, tok/s at 16": ratio(
            "(d) engine bf16, 16 at once", "(d) engine fp32, 16 at once"
        ),
        "prefix TTFT p50, cache / none": ratio(
            "(P) engine bf16, prefix cache", "(P) engine bf16, no prefix cache", "ttft_p50_ms"
        ),
        "prefix tokens read from the cache": engine.stats.cached_tokens,
    }
    for name, value in figures.items():
        print(f"{name:52s} {value}")
    out = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(["torch", "transformers"]),
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "layers": args.layers,
        "systems": rows,
        "figures": figures,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
