"""The training loop shared by the neural language models (GPT, RNN).

nanoGPT's recipe: random windows of the token stream as batches, AdamW (weight decay on
matrices only) with linear warmup and cosine decay, gradient clipping, periodic validation.
Mixed precision (bf16, or fp16 with a loss scaler) only on CUDA. Everything a run is — weights,
optimizer moments, iteration, the batch sampler's random state — is checkpointed, so a run
killed at any moment resumes from its last checkpoint and ends exactly where an uninterrupted
run ends.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aigc.models.device import pick_device

CHECKPOINT_FILE = "train.pt"


@dataclass
class TrainConfig:
    max_iters: int = 2000
    batch_size: int = 12
    block_size: int = 64
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # None: max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250  # validate (and checkpoint) every this many iterations
    eval_tokens: int = 65_536  # periodic validation reads at most this many tokens
    checkpoint_interval: int | None = None  # None: eval_interval
    seed: int = 1337
    device: str | None = None  # None: CUDA when present, else CPU

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainConfig:
        """The fields of ``params`` that name a TrainConfig field, with their types."""
        known = cls.__dataclass_fields__
        kwargs: dict[str, Any] = {}
        for name, value in params.items():
            if name in known and value is not None:
                default = getattr(cls(), name)
                kind = type(default) if default is not None else int
                kwargs[name] = value if kind is str else kind(value)
        return cls(**kwargs)


@dataclass
class Progress:
    """One report from the loop, for a progress bar or a job row."""

    iteration: int
    max_iters: int
    loss: float
    val_loss: float | None
    tokens_per_s: float
    eta_s: float
    lr: float

    @property
    def fraction(self) -> float:
        return self.iteration / self.max_iters if self.max_iters else 1.0

    def values(self) -> dict[str, Any]:
        """The line's numbers (``progress_lines.TRAIN_STEP``), for a reader's own words."""
        return {
            "iteration": self.iteration,
            "max_iters": self.max_iters,
            "loss": self.loss,
            "val_loss": self.val_loss,
            "tokens_per_s": self.tokens_per_s,
            "eta_s": self.eta_s,
        }

    def message(self) -> str:
        val = f" val {self.val_loss:.4f}" if self.val_loss is not None else ""
        return (
            f"iter {self.iteration}/{self.max_iters} loss {self.loss:.4f}{val} "
            f"{self.tokens_per_s:,.0f} tok/s ETA {_duration(self.eta_s)}"
        )


@dataclass
class TrainResult:
    val_loss: float
    train_loss: float
    iterations: int
    ms_per_iter: float
    tokens_per_s: float
    resumed_from: int  # 0 for a fresh run


def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Both a transformers model (an output object) and a plain module (a tensor) work."""
    out = model(x, use_cache=False) if hasattr(model, "generation_config") else model(x)
    return out if isinstance(out, torch.Tensor) else out.logits


def lr_at(it: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``min_lr`` at ``lr_decay_iters`` (nanoGPT's)."""
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if it > decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """Weight decay on matrices (embeddings, linear weights), none on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    seen: set[int] = set()
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in params:
        if id(p) in seen:  # tied weights appear once
            continue
        seen.add(id(p))
        (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.type == "cuda"
    return torch.optim.AdamW(
        groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), fused=fused
    )


def batch(
    data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the token stream: inputs and the same windows shifted by one."""
    starts = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)
    offsets = torch.arange(block_size + 1)
    windows = data[starts[:, None] + offsets]
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: torch.Tensor,
    block_size: int,
    batch_size: int = 32,
    max_tokens: int | None = None,
    device: torch.device | None = None,
) -> float:
    """Mean loss (nats/token) over consecutive windows covering ``data`` (or its first
    ``max_tokens``, evenly spread windows): every token predicted once."""
    device = device or next(model.parameters()).device
    n_windows = max(1, (len(data) - 1) // block_size)
    starts = torch.arange(n_windows) * block_size
    if max_tokens is not None and n_windows * block_size > max_tokens:
        keep = max(1, max_tokens // block_size)
        starts = starts[torch.linspace(0, n_windows - 1, keep).long()]
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        x = torch.stack([data[s : s + block_size] for s in chunk]).to(device)
        y = torch.stack([data[s + 1 : s + 1 + block_size] for s in chunk]).to(device)
        width = min(x.shape[1], y.shape[1])
        x, y = x[:, :width], y[:, :width]
        total += _summed_loss(model, x, y)
        count += y.numel()
    tail = (len(data) - 1) - n_windows * block_size  # the last partial window, if any
    if max_tokens is None and tail > 0:
        s = n_windows * block_size
        x = data[s : s + tail][None].to(device)
        y = data[s + 1 : s + 1 + tail][None].to(device)
        total += _summed_loss(model, x, y)
        count += y.numel()
    model.train(was_training)
    return total / max(1, count)


def _summed_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    logits = logits_of(model, x).float()
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"
    ).item()


def train(
    model: nn.Module,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    cfg: TrainConfig,
    checkpoint_dir: Path | None = None,
    report: Callable[[Progress], None] | None = None,
    saved: Callable[[], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place; resumes from ``checkpoint_dir`` when it holds a checkpoint.

    ``report`` is called after every iteration; if it raises (a job being cancelled or the
    server shutting down), a checkpoint is written first, then the exception propagates.
    ``saved`` is called after each checkpoint is written (a job publishes it to the shared
    store there, so another instance can resume it).
    """
    device = pick_device(cfg.device)
    model.to(device)
    model.train()
    if len(train_data) <= cfg.block_size + 1:
        raise ValueError(
            f"Not enough training text: {len(train_data)} tokens for a context of "
            f"{cfg.block_size}; add data or lower block_size"
        )
    if len(val_data) < 2:
        val_data = train_data[-(cfg.block_size * 4 + 1) :]  # no held-out text: a rough stand-in
    optimizer = make_optimizer(model, cfg, device)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    autocast, scaler = _mixed_precision(device)

    start_iter, last_val, path = 0, None, None
    if checkpoint_dir is not None:
        path = Path(checkpoint_dir) / CHECKPOINT_FILE
        if path.exists():
            # Read onto the CPU: the random states must stay there (the CPU's generators take
            # nothing else), and loading the weights and the optimizer's moments copies them
            # to the parameters' device anyway.
            state = torch.load(path, map_location="cpu", weights_only=False)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            if device.type == "cuda" and state.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(state["cuda_rng"], device)  # dropout on the GPU
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            start_iter, last_val = state["iteration"], state.get("val_loss")

    def save(iteration: int) -> None:
        if path is None:
            return
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "iteration": iteration,
            "val_loss": last_val,
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)  # atomic: a kill mid-write leaves the previous checkpoint
        if saved is not None:
            saved()

    ckpt_every = cfg.checkpoint_interval or cfg.eval_interval
    tokens_per_iter = cfg.batch_size * cfg.block_size
    t0 = time.perf_counter()
    done_here = 0
    loss_value = float("nan")
    for it in range(start_iter, cfg.max_iters):
        lr = lr_at(it, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = batch(train_data, cfg.batch_size, cfg.block_size, generator)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            logits = logits_of(model, x)
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        loss_value = loss.item()
        done_here += 1
        iteration = it + 1
        if iteration % cfg.eval_interval == 0 or iteration == cfg.max_iters:
            last_val = evaluate(model, val_data, cfg.block_size, max_tokens=cfg.eval_tokens)
            model.train()
        if iteration % ckpt_every == 0 and iteration < cfg.max_iters:
            save(iteration)
        if report is not None:
            elapsed = time.perf_counter() - t0
            rate = done_here / elapsed if elapsed > 0 else 0.0
            progress = Progress(
                iteration=iteration,
                max_iters=cfg.max_iters,
                loss=loss_value,
                val_loss=last_val,
                tokens_per_s=rate * tokens_per_iter,
                eta_s=(cfg.max_iters - iteration) / rate if rate else 0.0,
                lr=lr,
            )
            try:
                report(progress)
            except BaseException:
                if iteration % ckpt_every != 0:
                    save(iteration)
                raise
    elapsed = time.perf_counter() - t0
    final_val = evaluate(model, val_data, cfg.block_size)
    return TrainResult(
        val_loss=final_val,
        train_loss=loss_value,
        iterations=cfg.max_iters,
        ms_per_iter=1000 * elapsed / max(1, done_here),
        tokens_per_s=done_here * tokens_per_iter / elapsed if elapsed > 0 else 0.0,
        resumed_from=start_iter,
    )


def _mixed_precision(device: torch.device) -> tuple[Any, torch.amp.GradScaler | None]:
    """bf16 autocast on CUDA that has it, else fp16 with a loss scaler; full precision on CPU."""
    if device.type != "cuda":
        return nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
