"""A statistical text watermark (Kirchenbauer et al. 2023, "A Watermark for Large Language
Models"), keyed per tenant.

At each step the previous token and the tenant's key seed a pseudo-random "green" part of the
vocabulary (a fraction ``gamma``); ``delta`` is added to the green logits before sampling, so a
watermarked text holds more green tokens than chance. Detection needs only the key and the
tokenizer: count the green tokens and compute

    z = (green - gamma * T) / sqrt(T * gamma * (1 - gamma))

over the T scored tokens; z >= 4 is very unlikely by chance (p < 3e-5). The processor is a
plain ``TextRequest.logits_processors`` entry: ``processor(generated_ids, logits) -> logits``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

GAMMA = 0.25
DELTA = 2.0
Z_THRESHOLD = 4.0


def tenant_key(secret: bytes, tenant_id: str) -> int:
    """A 63-bit key for one tenant, derived from the server secret (never stored)."""
    digest = hmac.new(secret, b"watermark:" + tenant_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class GreenLists:
    """The green token ids after each previous token, computed on demand and cached."""

    def __init__(self, key: int, vocab_size: int, gamma: float = GAMMA, cache: int = 8192) -> None:
        self.key = key
        self.vocab_size = vocab_size
        self.size = max(1, int(gamma * vocab_size))
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._limit = cache

    def mask(self, previous: int) -> torch.Tensor:
        """A bool tensor [vocab] that is True on the green tokens."""
        hit = self._cache.get(previous)
        if hit is not None:
            self._cache.move_to_end(previous)
            return hit
        generator = torch.Generator().manual_seed((self.key * 1_000_003 + previous) % 2**63)
        green = torch.randperm(self.vocab_size, generator=generator)[: self.size]
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[green] = True
        self._cache[previous] = mask
        if len(self._cache) > self._limit:
            self._cache.popitem(last=False)
        return mask


class WatermarkProcessor:
    """Adds ``delta`` to the green logits; the first generated token is left alone (its
    previous token is in the prompt, which the processor does not see)."""

    def __init__(self, key: int, gamma: float = GAMMA, delta: float = DELTA) -> None:
        self.key, self.gamma, self.delta = key, gamma, delta
        self._lists: GreenLists | None = None

    def __call__(self, generated: Sequence[int], logits: torch.Tensor) -> torch.Tensor:
        if not generated:
            return logits
        vocab = logits.shape[-1]
        if self._lists is None or self._lists.vocab_size != vocab:
            self._lists = GreenLists(self.key, vocab, self.gamma)
        mask = self._lists.mask(int(generated[-1])).to(logits.device)
        return logits + mask.to(logits.dtype) * self.delta


@dataclass(frozen=True)
class Detection:
    z: float
    green: int
    scored: int
    watermarked: bool

    def view(self) -> dict[str, float | int | bool]:
        return {
            "z_score": round(self.z, 3),
            "green_tokens": self.green,
            "scored_tokens": self.scored,
            "watermarked": self.watermarked,
        }


def detect(token_ids: Sequence[int], key: int, vocab_size: int, gamma: float = GAMMA) -> Detection:
    """The z-score of ``token_ids`` under ``key`` (every token after the first is scored)."""
    lists = GreenLists(key, vocab_size, gamma)
    scored = green = 0
    for previous, token in itertools.pairwise(token_ids):
        if 0 <= token < vocab_size:
            scored += 1
            green += bool(lists.mask(int(previous))[int(token)])
    if scored == 0:
        return Detection(0.0, 0, 0, False)
    z = (green - gamma * scored) / math.sqrt(scored * gamma * (1 - gamma))
    return Detection(z, green, scored, z >= Z_THRESHOLD)


def detect_text(model: object, text: str, key: int, gamma: float = GAMMA) -> Detection:
    """Detection on text through a local neural model's own tokenizer; ValueError for models
    that have none (templates, n-grams, upstreams: they are never watermarked)."""
    tokenizer = getattr(model, "tokenizer", None)
    vocab = getattr(getattr(model, "lm", None), "vocab_size", None)
    if tokenizer is None or vocab is None:
        raise ValueError("only local neural models (gpt-, rnn-, hf-) carry the watermark")
    return detect(tokenizer.encode(text), key, int(vocab), gamma)
