"""What a training job shows while it runs: a loss curve and sample outputs.

``LiveMetrics`` keeps a bounded curve and the last few samples. The training loss is recorded
at every iteration at first; each time the curve reaches ``2 * MAX_POINTS`` points every other
one is dropped and the step doubles, so a short run is drawn in full, a long one shows points
from its first seconds, and no curve grows past ``2 * MAX_POINTS`` whatever ``max_iters`` is.
Every validation point is kept. This is the shape the job publishes as its partial ``result``
(``JobContext.publish``)::

    {"metrics": {"loss": [[iter, loss], ...], "val_loss": [[iter, loss], ...],
                 "samples": [{"iteration": n, "text": "..."}], "max_iters": n}}

A resumed run starts from the curve the interrupted run published and drops its points past
the checkpoint, so the curve never holds two values for one iteration.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from aigc.models import trainer

MAX_POINTS = 200
MAX_SAMPLES = 5
SAMPLE_TOKENS = 48
SAMPLE_TEMPERATURE = 0.8


class LiveMetrics:
    """The curve and samples of one run, fed from the trainer's progress reports."""

    def __init__(self, max_iters: int, previous: dict[str, Any] | None = None) -> None:
        self.max_iters = max_iters
        self.stride = 1
        old = (previous or {}).get("metrics") or {}
        self.loss: list[list[float]] = [list(p) for p in old.get("loss", [])]
        self.val_loss: list[list[float]] = [list(p) for p in old.get("val_loss", [])]
        self.samples: list[dict[str, Any]] = [dict(s) for s in old.get("samples", [])]
        self._trimmed = False

    def add(self, progress: trainer.Progress, evaluated: bool) -> bool:
        """Record one report; True when something new is worth publishing."""
        it = progress.iteration
        if not self._trimmed:  # first report of this run: forget what a dead run did past it
            self._trim(it)
        changed = False
        if (it % self.stride == 0 or it == self.max_iters) and math.isfinite(progress.loss):
            self.loss.append([it, round(progress.loss, 5)])
            changed = True
            if len(self.loss) >= 2 * MAX_POINTS:
                self.stride *= 2
                self.loss = [p for p in self.loss if p[0] % self.stride == 0]
        if evaluated and progress.val_loss is not None and math.isfinite(progress.val_loss):
            self.val_loss.append([it, round(progress.val_loss, 5)])
            changed = True
        return changed

    def add_sample(self, iteration: int, text: str) -> None:
        self.samples = [*self.samples, {"iteration": iteration, "text": text}][-MAX_SAMPLES:]

    def view(self) -> dict[str, Any]:
        return {
            "metrics": {
                "loss": self.loss,
                "val_loss": self.val_loss,
                "samples": self.samples,
                "max_iters": self.max_iters,
            }
        }

    def _trim(self, iteration: int) -> None:
        self._trimmed = True
        self.loss = [p for p in self.loss if p[0] < iteration]
        self.val_loss = [p for p in self.val_loss if p[0] < iteration]
        self.samples = [s for s in self.samples if s["iteration"] < iteration]


@torch.no_grad()
def sample_text(
    model: nn.Module,
    tokenizer: Any,
    block_size: int,
    seed: int,
    n_tokens: int = SAMPLE_TOKENS,
    temperature: float = SAMPLE_TEMPERATURE,
) -> str:
    """A short continuation of end-of-text (a fresh document), for people watching a run.

    Draws from its own generator and leaves the model in the mode it found it, so sampling
    never changes what the training run computes (a resumed run stays identical).
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        ids = [tokenizer.eos_id]
        out: list[int] = []
        for _ in range(n_tokens):
            x = torch.tensor([ids[-block_size:]], dtype=torch.long, device=device)
            logits = trainer.logits_of(model, x)[0, -1].float().cpu()
            probs = torch.softmax(logits / temperature, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=generator))
            if token == tokenizer.eos_id:
                break
            ids.append(token)
            out.append(token)
    finally:
        model.train(was_training)
    return str(tokenizer.decode(out, skip_special_tokens=True))
