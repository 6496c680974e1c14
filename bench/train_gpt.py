"""GPT on tiny-shakespeare with nanoGPT's CPU recipe: loss, training speed, generation speed.

The acceptance run of issue 3: character level over the raw character stream (first 90% of the
characters train, last 10% validate), 4 layers, 4 heads, 128 dims, block 64, batch 12, no
dropout, AdamW lr 1e-3 (betas 0.9/0.99, weight decay 0.1), 100 warmup iterations, cosine decay
to 1e-4 at 2000, gradient clip 1.0 — nanoGPT's README command for CPUs. It reports:

* validation loss over the **whole** validation split (nats/char; target ≤ 1.90, nanoGPT 1.8857);
* training ms/iteration and tokens/s (iterations 11..N-1, so warm-up and the final evaluation
  are not counted; nanoGPT takes 53–55 ms/iter on the 2-core dev machine when idle);
* generation tokens/s: our decoding (``NeuralTextModel``, greedy, KV cache) and plain
  ``transformers`` ``generate`` on the saved checkpoint, which must load with the snippet
  ``AutoModelForCausalLM.from_pretrained(dir)`` + ``AutoTokenizer.from_pretrained(dir)``;
* on CPU and, when present, on CUDA (bf16 autocast).

    python bench/train_gpt.py                 # the full 2000 iterations (~2 min alone on 2 cores)
    python bench/train_gpt.py --quick         # 200 iterations: checks that everything runs
    python bench/train_gpt.py --threads 2 --device cpu

Results go to ``bench/results/train_gpt.json``. A benchmark, not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aigc.models import trainer  # noqa: E402
from aigc.models.protocols import TextRequest  # noqa: E402
from aigc.models.text import gpt, neural  # noqa: E402
from aigc.models.text.tokenizers import train_tokenizer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "text" / "tinyshakespeare.txt"
RESULTS = ROOT / "bench" / "results" / "train_gpt.json"


def run(device: str, iters: int, gen_tokens: int) -> dict[str, Any]:
    text = DATA.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)  # nanoGPT's split, by characters
    tokenizer = train_tokenizer("char", [text])
    train_ids = torch.tensor(tokenizer.encode(text[:cut]), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(text[cut:]), dtype=torch.long)
    torch.manual_seed(1337)
    model = gpt.build(gpt.GPTConfig(tokenizer.vocab_size, 64, 4, 4, 128, 0.0))
    cfg = trainer.TrainConfig(
        max_iters=iters,
        batch_size=12,
        block_size=64,
        learning_rate=1e-3,
        min_lr=1e-4,
        warmup_iters=100,
        lr_decay_iters=iters,
        weight_decay=0.1,
        beta1=0.9,
        beta2=0.99,
        grad_clip=1.0,
        eval_interval=iters,  # validate once, at the end, over the whole split
        device=device,
    )
    stamps: list[float] = []
    result = trainer.train(
        model, train_ids, val_ids, cfg, report=lambda p: stamps.append(time.perf_counter())
    )
    timed = stamps[10:-1]  # iterations 11..N-1: no warm-up, no final evaluation
    ms_per_iter = 1000 * (timed[-1] - timed[0]) / (len(timed) - 1)
    row: dict[str, Any] = {
        "device": device,
        "iterations": iters,
        "vocab_size": tokenizer.vocab_size,
        "val_loss_nats_per_char": round(result.val_loss, 4),
        "train_loss_last": round(result.train_loss, 4),
        "train_ms_per_iter": round(ms_per_iter, 2),
        "train_tokens_per_s": round(12 * 64 * 1000 / ms_per_iter, 1),
    }
    print(f"trained: {row}", flush=True)  # kept even if generation fails below
    with tempfile.TemporaryDirectory() as tmp:
        neural.save_checkpoint(model, tokenizer, Path(tmp))
        row |= generation_speed(Path(tmp), device, gen_tokens)
    return row


# --- nanoGPT's model, for a side-by-side speed check on the same machine at the same moment ---


class _NanoBlock(torch.nn.Module):
    """nanoGPT's Block (model.py, bias=False as its train.py default): pre-norm attention + MLP."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = torch.nn.LayerNorm(d, bias=False)
        self.c_attn = torch.nn.Linear(d, 3 * d, bias=False)
        self.c_proj = torch.nn.Linear(d, d, bias=False)
        self.ln_2 = torch.nn.LayerNorm(d, bias=False)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(d, 4 * d, bias=False),
            torch.nn.GELU(),
            torch.nn.Linear(4 * d, d, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(torch.nn.Module):
    def __init__(self, vocab: int, block: int, layers: int, heads: int, d: int) -> None:
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, d)
        self.wpe = torch.nn.Embedding(block, d)
        self.blocks = torch.nn.ModuleList(_NanoBlock(d, heads) for _ in range(layers))
        self.ln_f = torch.nn.LayerNorm(d, bias=False)
        self.lm_head = torch.nn.Linear(d, vocab, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def side_by_side(vocab: int, rounds: int = 3, iters: int = 30) -> dict[str, float]:
    """ms/iteration of our GPT and nanoGPT's model, same loop, alternating rounds (median)."""
    import statistics

    cfg = trainer.TrainConfig(max_iters=10**6)
    models = {
        "ours": gpt.build(gpt.GPTConfig(vocab, 64, 4, 4, 128, 0.0)),
        "nanogpt": NanoGPT(vocab, 64, 4, 4, 128),
    }
    optimizers = {k: trainer.make_optimizer(m, cfg, torch.device("cpu")) for k, m in models.items()}
    gen = torch.Generator().manual_seed(0)
    data = torch.randint(vocab, (100_000,), generator=gen)
    times: dict[str, list[float]] = {k: [] for k in models}

    def step(name: str) -> None:
        x, y = trainer.batch(data, 12, 64, gen)
        logits = trainer.logits_of(models[name], x)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, vocab), y.reshape(-1))
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(models[name].parameters(), 1.0)
        optimizers[name].step()

    for r in range(rounds):
        for name in models if r % 2 == 0 else reversed(list(models)):
            for _ in range(5):
                step(name)  # warm-up
            start = time.perf_counter()
            for _ in range(iters):
                step(name)
            times[name].append(1000 * (time.perf_counter() - start) / iters)
    return {f"{k}_ms_per_iter": round(statistics.median(v), 2) for k, v in times.items()}


def generation_speed(path: Path, device: str, n: int) -> dict[str, Any]:
    """Tokens/s of our decoder and of transformers' generate, greedy.

    transformers' GPT-2 cannot go past its 64-position context, so both first generate what
    fits (and must agree token for token); ours then also generates ``n`` tokens, sliding its
    window past the context."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
    hf_tok = AutoTokenizer.from_pretrained(path)
    inputs = hf_tok("ROMEO:", return_tensors="pt").to(device)
    fits = hf_model.config.n_positions - inputs["input_ids"].shape[1]
    with torch.inference_mode():
        start = time.perf_counter()
        out = hf_model.generate(
            **inputs, max_new_tokens=fits, min_new_tokens=fits, do_sample=False, pad_token_id=0
        )
        hf_s = time.perf_counter() - start
    sample = hf_tok.decode(out[0], skip_special_tokens=True)
    ours = neural.NeuralTextModel(neural.HFCausalLM(hf_model), neural.TextTokenizer(hf_tok))
    timings = {}
    for count in (fits, n):
        request = TextRequest(prompt="ROMEO:", max_tokens=count, temperature=0.0, min_tokens=count)
        start = time.perf_counter()
        text = "".join(ours.generate(request))
        timings[count] = (time.perf_counter() - start, text)
    return {
        "gen_tokens_in_context": fits,
        "gen_tokens_per_s_transformers": round(fits / hf_s, 1),
        "gen_tokens_per_s_ours": round(fits / timings[fits][0], 1),
        f"gen_tokens_per_s_ours_{n}_tokens": round(n / timings[n][0], 1),
        "plain_transformers_load_ok": True,
        "ours_equals_transformers_greedy": timings[fits][1] == sample[len("ROMEO:") :],
        "sample": timings[n][1][:300],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 iterations")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--gen-tokens", type=int, default=200)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is absent (see shared/data/SOURCES.md)")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    iters = 200 if args.quick else args.iters
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    rows = [run(d, iters, args.gen_tokens) for d in devices]
    versus = side_by_side(rows[0]["vocab_size"]) if "cpu" in devices else {}
    if versus:
        print(
            f"side by side on CPU, same loop, median of 3 rounds: ours "
            f"{versus['ours_ms_per_iter']:.1f} ms/iter, nanoGPT's model "
            f"{versus['nanogpt_ms_per_iter']:.1f} ms/iter"
        )
    header = (
        f"{'device':6} {'iters':>5} {'val loss':>9} {'ms/iter':>8} {'train tok/s':>11} "
        f"{'gen tok/s ours':>14} {'gen tok/s HF':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['device']:6} {r['iterations']:>5} {r['val_loss_nats_per_char']:>9.4f} "
            f"{r['train_ms_per_iter']:>8.1f} {r['train_tokens_per_s']:>11,.0f} "
            f"{r['gen_tokens_per_s_ours']:>14,.1f} {r['gen_tokens_per_s_transformers']:>12,.1f}"
        )
    print("targets: val loss ≤ 1.90 nats/char (2000 iterations); nanoGPT 53–55 ms/iter (idle)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
        "recipe": "nanoGPT CPU: 4 layers, 4 heads, 128 dims, block 64, batch 12, no dropout, "
        "AdamW lr 1e-3 betas (0.9, 0.99) wd 0.1, 100 warmup, cosine to 1e-4, clip 1.0",
        "rows": rows,
        "side_by_side_cpu": versus,
    }
    RESULTS.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
