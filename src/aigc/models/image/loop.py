"""The training loop the image and multimodal families share (GAN, VAE, CLIP, captioner,
text-to-image): seeded generators, a random batch per step, progress every 50 steps.

Each family writes only its step: given the batch's row indices, it computes its losses, takes
its optimiser step(s) and returns a ``describe`` callable for the progress line. ``describe``
is called only when a line is reported, so ``loss.item()`` (a GPU sync) stays off most steps.
The job's ``progress`` callback is also how a cancel arrives: it raises, and the loop stops.
These runs are minutes long, so there is no checkpoint/resume (the text trainer has one).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from aigc.models import progress_lines as lines
from aigc.models.device import pick_device
from aigc.models.progress_lines import Report

Progress = Report
StepFn = Callable[[np.ndarray], Callable[[], str]]
REPORT_EVERY = 50


@dataclass
class Run:
    """Where a training run computes and its random generators, all seeded from one seed."""

    device: torch.device
    rng: np.random.Generator  # batches and augmentation
    pyrng: random.Random  # choices among a sample's captions


def start(seed: int) -> Run:
    """Seed torch (model initialisation, noise) and the run's generators, in that order."""
    device = pick_device()
    torch.manual_seed(seed)
    return Run(device, np.random.default_rng(seed), random.Random(seed))


def descend(
    opt: torch.optim.Optimizer,
    loss: torch.Tensor,
    sched: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    """One optimiser step on ``loss`` (gradients cleared first), then the schedule's step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()


def run_steps(
    run: Run,
    steps: int,
    batch_size: int,
    rows: int,
    step: StepFn,
    progress: Progress | None = None,
    every: int = 0,
    on_every: Callable[[int], None] | None = None,
) -> None:
    """``steps`` steps over random batches of ``batch_size`` of ``rows`` rows; a progress line
    ("step i/n <describe()> (Ns)") every 50 steps and at the last; ``on_every(i)`` after every
    ``every``-th step (sample grids)."""
    started = time.monotonic()
    for i in range(steps):
        describe = step(run.rng.integers(rows, size=batch_size))
        if progress and (i % REPORT_EVERY == 0 or i == steps - 1):
            elapsed = time.monotonic() - started
            detail = describe()
            progress(
                (i + 1) / steps,
                f"step {i + 1}/{steps} {detail} ({elapsed:.0f}s)",
                lines.IMAGE_STEP,
                {"step": i + 1, "steps": steps, "detail": detail, "seconds": round(elapsed)},
            )
        if on_every and every and (i + 1) % every == 0:
            on_every(i + 1)
