"""Edits and variations of a caller's image by a latent image generator (GAN or VAE).

Both families decode a joint latent [z, embed(class)] (``sampling.py``), so both can *search*
that space: Adam on ``z`` (the class embedding fixed) until the decoded image matches the
pixels that count, with a Gaussian prior on ``z`` so the search stays where the decoder was
trained. That one search serves:

- edits: match the kept (opaque) pixels only, from ``n`` seeded starting points, then paste
  the kept pixels back over the decoded images at the output size, so they stay exact;
- variations of a model without an encoder (the GAN): match the whole image, keep the best
  start, and perturb its ``z``. A VAE instead encodes the image and samples its posterior
  (``VAEModel.image_variations``).

A class the prompt names (as generations read it) is used; otherwise every class is tried and
the one whose best latent matches best wins, so an edit of a 3 stays a 3.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from aigc.models.image.inputs import image_array
from aigc.models.image.sampling import upscale
from aigc.models.torch_threads import one_thread

STEPS = 150  # Adam steps of the latent search: the tiny decoders converge well within this
LR = 0.05
PRIOR = 0.02  # weight of ‖z‖²/2 against the mean squared error of the pixels that count
SPREAD = 0.5  # how far a GAN variation's z moves from the fitted one (in prior std units)
RESTARTS = 4  # starting points per class when fitting a whole image (GAN variations)


def generator(seed: int | None) -> torch.Generator:
    return torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))


def native_pixels(model: Any, image: Image.Image) -> torch.Tensor:
    """The image as the model reads it: (1, C, n, n) floats at its native side (as generation
    makes them: resized, greyscale for a one-channel model)."""
    arr = image_array(image, model.native, model.cfg.channels)
    return torch.from_numpy(arr).to(model.device)


def native_keep(alpha: np.ndarray, side: int, device: torch.device) -> torch.Tensor:
    """(1, 1, n, n) weights in [0, 1]: how much of each native pixel is kept (opaque)."""
    img = Image.fromarray(alpha).resize((side, side), Image.Resampling.BOX)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None, None].to(device)


def fit_latents(
    model: Any,
    target: torch.Tensor,
    keep: torch.Tensor,
    labels: list[int],
    starts: torch.Tensor,
    steps: int = STEPS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint latents, one per start (with its class in ``labels``), whose decoded images match
    ``target`` where ``keep`` weighs; and each one's final loss. Only ``z`` is searched: the
    gradients are taken with respect to it alone, so the shared network is never touched."""
    net = model.net
    net.eval()
    with torch.no_grad():
        y = torch.tensor(labels, dtype=torch.long, device=model.device)
        cond = net.embed(y)
    z = starts.clone().to(model.device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=LR)
    weight = keep.expand_as(target)
    total = weight.sum().clamp(min=1.0)

    def losses() -> torch.Tensor:
        decoded = net.decode(torch.cat([z, cond], dim=1))
        error = ((decoded - target) ** 2 * weight).flatten(1).sum(1) / total
        return error + PRIOR * 0.5 * z.pow(2).mean(1)

    # On one CPU thread: a step is ~1.5 ms of tiny ops, which a team of threads slows down
    # (the same bytes; measured in docs/images.md, "Cost").
    with torch.enable_grad(), one_thread():
        for _ in range(steps):
            (grad,) = torch.autograd.grad(losses().sum(), [z])
            z.grad = grad
            opt.step()
    with torch.no_grad():
        return torch.cat([z.detach(), cond], dim=1), losses()


def best_class(losses: torch.Tensor, classes: int) -> int:
    """Of losses laid out class-major ((class, start) pairs), the class with the lowest one."""
    return int(losses.view(classes, -1).min(dim=1).values.argmin())


def edit(
    model: Any,
    image: Image.Image,
    alpha: np.ndarray,
    label: int | None,
    n: int,
    side: int,
    seed: int | None,
) -> np.ndarray:
    """``n`` edits as (n, side, side, C) bytes: where ``alpha`` is 0 the model draws, elsewhere
    the image's own pixels stay (at ``side``, pasted over the decoded image).

    ``alpha`` is (H, W) bytes at the image's size; ``label`` the class the prompt named (None:
    the class that fits the kept pixels best)."""
    target = native_pixels(model, image)
    keep = native_keep(alpha, model.native, model.device)
    gen = generator(seed)
    k = len(model.classes)
    if label is None:  # every class from the same starts; the best-fitting class wins
        starts = torch.randn(n, model.z_dim, generator=gen).repeat(k, 1)
        labels = [c for c in range(k) for _ in range(n)]
        latents, losses = fit_latents(model, target, keep, labels, starts)
        label = best_class(losses, k)
        latents = latents[label * n : (label + 1) * n]
    else:
        starts = torch.randn(n, model.z_dim, generator=gen)
        latents, _ = fit_latents(model, target, keep, [label] * n, starts)
    drawn = upscale(model.decode(latents), side)
    return paste(drawn, image, alpha, side, model.cfg.channels)


def paste(
    drawn: np.ndarray, image: Image.Image, alpha: np.ndarray, side: int, channels: int
) -> np.ndarray:
    """The image's kept pixels (alpha > 0) over ``drawn`` (n, side, side, C) bytes; the image
    and its alpha are brought to ``side`` first (unchanged when already that size)."""
    kept = image.convert("L" if channels == 1 else "RGB")
    if kept.size != (side, side):
        kept = kept.resize((side, side), Image.Resampling.BILINEAR)
    mask = Image.fromarray(alpha)
    if mask.size != (side, side):
        mask = mask.resize((side, side), Image.Resampling.NEAREST)
    pixels = np.asarray(kept, dtype=np.uint8).reshape(side, side, channels)
    hole = (np.asarray(mask) == 0)[None, :, :, None]
    return np.where(hole, drawn, pixels[None]).astype(np.uint8)


def search_variations(
    model: Any, image: Image.Image, n: int, side: int, seed: int | None
) -> np.ndarray:
    """Variations without an encoder: fit the whole image from ``RESTARTS`` starts per class,
    keep the best latent, and decode ``n`` perturbations of its ``z`` (class kept)."""
    target = native_pixels(model, image)
    keep = torch.ones_like(target[:, :1])
    gen = generator(seed)
    k = len(model.classes)
    starts = torch.randn(k * RESTARTS, model.z_dim, generator=gen)
    labels = [c for c in range(k) for _ in range(RESTARTS)]
    latents, losses = fit_latents(model, target, keep, labels, starts)
    best = latents[int(losses.argmin())]
    noise = torch.randn(n, model.z_dim, generator=gen).to(model.device)
    z = best[: model.z_dim] + SPREAD * noise
    return upscale(model.decode(torch.cat([z, best[model.z_dim :].expand(n, -1)], dim=1)), side)


@torch.no_grad()
def encoded_variations(
    model: Any, image: Image.Image, n: int, side: int, seed: int | None
) -> np.ndarray:
    """Variations by a VAE: encode the image under every class, keep the class whose posterior
    mean reconstructs it best, and decode ``n`` samples z ~ q(z | image, class)."""
    net = model.net
    net.eval()
    x = native_pixels(model, image)
    y = torch.arange(len(model.classes), device=model.device)
    mu, logvar = net.encode(x.expand(len(y), -1, -1, -1), y)
    cond = net.embed(y)
    error = ((net.decode(torch.cat([mu, cond], dim=1)) - x) ** 2).flatten(1).mean(1)
    c = int(error.argmin())
    noise = torch.randn(n, model.z_dim, generator=generator(seed)).to(model.device)
    z = mu[c] + (0.5 * logvar[c]).exp() * noise
    return upscale(model.decode(torch.cat([z, cond[c].expand(n, -1)], dim=1)), side)
