"""What every class-conditional latent image model shares: sizes, prompts → classes, latents.

A GAN's generator and a VAE's decoder both map a *joint latent* — noise ``z`` concatenated
with a learned class embedding — to an image. Working in that joint space gives both families
the same sampling, interpolation and latent arithmetic, implemented once here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from aigc.errors import refused_value
from aigc.models.base import ImageModelBase
from aigc.models.image.data import DIGIT_NAMES_EN, DIGIT_NAMES_ZH
from aigc.models.protocols import ImageRequest

MAX_SIDE = 128


def allowed_sizes(native: int, max_side: int = MAX_SIDE) -> list[int]:
    """The native side and its integer upscales up to ``max_side`` (e.g. 8, 16, 24, … 128)."""
    return [native * k for k in range(1, max(1, max_side // native) + 1)]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] → (N, H, W, C) bytes, ready for PNG."""
    arr = images.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return arr.transpose(0, 2, 3, 1)


def upscale(images: np.ndarray, side: int) -> np.ndarray:
    """Integer nearest-neighbour upscale of (N, H, W, C) bytes: crisp pixels, no invention."""
    factor = side // images.shape[1]
    if factor <= 1:
        return images
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


def _digit_aliases(classes: Sequence[str]) -> dict[int, list[str]]:
    if list(classes) != [str(i) for i in range(10)]:
        return {}
    return {i: [DIGIT_NAMES_EN[i], DIGIT_NAMES_ZH[i]] for i in range(10)}


def label_from_prompt(prompt: str, classes: Sequence[str]) -> int | None:
    """The class a prompt names (a class name; for digits also 'seven' or '七'), else None.

    When several names occur, the last one wins: "一个手写的七" (a handwritten seven) is a 7,
    not the 1 of its article "一个".
    """
    text = prompt.lower()
    candidates: list[tuple[str, int]] = [(name.lower(), i) for i, name in enumerate(classes)]
    for i, names in _digit_aliases(classes).items():
        candidates += [(n, i) for n in names]
    best: tuple[int, int, int] | None = None  # (end position, length, class)
    for name, index in candidates:
        if not name:
            continue
        if name.isascii() and name.isalnum():
            pattern = rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])"
        else:
            pattern = re.escape(name)
        for match in re.finditer(pattern, text):
            found = (match.end(), len(name), index)
            if best is None or found[:2] > best[:2]:
                best = found
    return None if best is None else best[2]


def class_index(label: str | int, classes: Sequence[str]) -> int:
    """A class by name (or digit alias) or by index; 400 naming the classes when unknown."""
    if isinstance(label, int) and 0 <= label < len(classes):
        return label
    found = label_from_prompt(str(label), classes) if str(label) else None
    if found is None or (str(label) not in classes and len(str(label)) > 20):
        shown = ", ".join(classes[:20])
        raise refused_value(
            "literal_error",
            "Unknown class '{value}'; the model knows: {expected}",
            param="label",
            value=label,
            expected=shown,
        )
    return found


class LatentImageGenerator(ImageModelBase):
    """Shared behaviour of class-conditional generators over a joint latent [z, embed(y)].

    Subclasses set ``net`` (an ``nn.Module`` with ``embed`` and ``decode``), ``z_dim``,
    ``classes``, ``native`` and ``device``.
    """

    net: Any  # a subclass's own network type (each adds methods beyond embed/decode)
    z_dim: int
    classes: list[str]
    native: int
    device: torch.device

    @property
    def sizes(self) -> list[int]:
        return allowed_sizes(self.native)

    def noise(self, n: int, seed: int | None) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))
        return torch.randn(n, self.z_dim, generator=gen).to(self.device)

    @torch.no_grad()
    def latent(self, labels: Sequence[int], seed: int | None = None) -> torch.Tensor:
        """Joint latents for ``labels``, with noise drawn from ``seed``."""
        y = torch.tensor(list(labels), dtype=torch.long, device=self.device)
        return torch.cat([self.noise(len(y), seed), self.net.embed(y)], dim=1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Joint latents → (N, H, W, C) bytes at the native size."""
        self.net.eval()
        return to_uint8(self.net.decode(latents.to(self.device)))

    def generate_images(self, request: ImageRequest) -> np.ndarray:
        label = label_from_prompt(request.prompt, self.classes)
        rng = np.random.default_rng(request.seed)
        if label is None:  # no class named: a random class per image
            labels = [int(x) for x in rng.integers(len(self.classes), size=request.n)]
        else:
            labels = [label] * request.n
        images = self.decode(self.latent(labels, request.seed))
        return upscale(images, request.size or self.native)

    def edit_images(
        self,
        image: Image.Image,
        alpha: np.ndarray,
        prompt: str,
        n: int,
        size: int,
        seed: int | None = None,
    ) -> np.ndarray:
        """``n`` edits of ``image`` as (n, size, size, C) bytes: the pixels where ``alpha`` (its
        (H, W) bytes) is 0 are drawn anew, the others kept; a class the prompt names (as
        generations read it) steers what is drawn, else the class the kept pixels fit best."""
        from aigc.models.image import editing  # it builds on this module

        label = label_from_prompt(prompt, self.classes)
        return editing.edit(self, image, alpha, label, n, size, seed)

    def image_variations(
        self, image: Image.Image, n: int, size: int, seed: int | None = None
    ) -> np.ndarray:
        """``n`` images near ``image`` in the latent space, as (n, size, size, C) bytes; without
        an encoder the image's latent is found by search (``editing.search_variations``)."""
        from aigc.models.image import editing

        return editing.search_variations(self, image, n, size, seed)

    def interpolate(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> np.ndarray:
        """Images along the straight line between two joint latents (both ends included)."""
        t = torch.linspace(0, 1, steps, device=self.device)[:, None]
        return self.decode((1 - t) * start.to(self.device) + t * end.to(self.device))


def save_grid(images: np.ndarray, path: str, cols: int = 10, scale: int = 4) -> None:
    """Save (N, C, H, W) floats in [0, 1] as one PNG grid (sample grids during training)."""
    from PIL import Image

    n, c, h, w = images.shape
    rows = -(-n // cols)
    grid = np.zeros((rows * h, cols * w, c), dtype=np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = img.transpose(1, 2, 0)
    pixels = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
    pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    Image.fromarray(pixels[:, :, 0] if c == 1 else pixels).save(path)
