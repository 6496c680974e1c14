"""A model family that exists only in the test suite: a character bigram language model.

It proves that a family is one file: this module declares the model, its training parameters,
its trainer and its loader, and registers them with one line (``register(Family(...))`` at the
bottom). Nothing in ``src/`` names it; a server or CLI loads it with
``AIGC_FAMILY_MODULES=tests.models.toy_family``. It then trains through ``POST /api/train`` /
``aigc train toy``, serves ``/v1/chat/completions`` and shows on the console's training form.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aigc.models.base import TextModelBase
from aigc.models.family import TEXT, Family, register
from aigc.models.protocols import TextRequest
from aigc.models.text.data import read_texts

END = "\n"  # a chat answer is one line


class ToyParams(BaseModel):
    """The bigram model's training parameters (the console and the CLI show these)."""

    model_config = ConfigDict(extra="forbid")

    smoothing: float = Field(default=0.5, ge=0.01, le=10.0, description="Add-k smoothing")
    lowercase: bool = Field(default=False, description="Train and answer in lower case")
    max_chars: int = Field(default=80, ge=1, le=1000, description="Longest answer")


class BigramModel(TextModelBase):
    """p(next character | this character), add-k smoothed; greedy at temperature 0."""

    runs_inline = True  # microseconds of pure Python per answer

    def __init__(self, path: str | Path) -> None:
        saved = json.loads((Path(path) / "bigram.json").read_text(encoding="utf-8"))
        self.counts: dict[str, dict[str, int]] = saved["counts"]
        self.alphabet: list[str] = saved["alphabet"]
        self.smoothing: float = saved["smoothing"]
        self.lowercase: bool = saved["lowercase"]
        self.max_chars: int = saved["max_chars"]

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, request: TextRequest) -> Iterator[str]:
        if request.messages is not None:
            prompt = request.messages[-1].content if request.messages else ""
        else:
            prompt = request.prompt or ""
        if self.lowercase:
            prompt = prompt.lower()
        rng = random.Random(request.seed)
        previous = prompt[-1:] or END
        limit = min(request.max_tokens or self.max_chars, self.max_chars)
        for _ in range(limit):
            following = self.counts.get(previous, {})
            if request.temperature <= 0:
                char = max(self.alphabet, key=lambda c: (following.get(c, 0), c))
            else:
                weights = [
                    (following.get(c, 0) + self.smoothing) ** (1 / request.temperature)
                    for c in self.alphabet
                ]
                char = rng.choices(self.alphabet, weights)[0]
            if char == END:
                return
            yield char
            previous = char


def train(ctx: Any, out_dir: Path) -> dict[str, Any]:
    """The ``train-toy`` job: count character pairs of the uploaded text."""
    fields = {k: v for k, v in ctx.params.items() if k in ToyParams.model_fields}
    params = ToyParams.model_validate(fields)
    ctx.progress(0.1, "reading the data")
    text = "\n".join(read_texts([Path(p) for p in ctx.params["paths"]]))
    if params.lowercase:
        text = text.lower()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for a, b in zip(END + text, text + END, strict=True):
        counts[a][b] += 1
    alphabet = sorted(set(text) | {END})
    total = sum(sum(c.values()) for c in counts.values())
    log_p = sum(
        n * math.log((n + params.smoothing) / (sum(c.values()) + params.smoothing * len(alphabet)))
        for c in counts.values()
        for n in c.values()
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = {"counts": counts, "alphabet": alphabet} | params.model_dump()
    (out_dir / "bigram.json").write_text(json.dumps(saved), encoding="utf-8")
    ctx.progress(1.0, "counted")
    perplexity = round(math.exp(-log_p / max(total, 1)), 4)
    return {"path": str(out_dir), "val_perplexity": perplexity, "characters": len(text)}


register(
    Family(
        name="toy",
        kind="text",
        loader=lambda config: BigramModel(config["path"]),
        capabilities=TEXT,
        summary="Train a character bigram model (defined only in the test suite).",
        params=ToyParams,
        trainer=train,
    )
)
