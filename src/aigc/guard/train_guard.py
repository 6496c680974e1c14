"""Rebuild the guard's classifier artifacts from ``../shared/data``.

    python -m aigc.guard.train_guard [--data ../shared/data]

Writes, beside this file: ``injection.npz`` (direct injection/jailbreak), ``injection_doc.npz``
(instructions hidden in documents) and ``harmful.npz`` (harmful requests). Only the *train*
sides of ``datasets.py`` are used; the benchmarks report on the *test* sides. Each artifact is a
few hundred kilobytes (float16 weights of a hashed character n-gram logistic regression).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from aigc.guard import datasets, injection, textclf

HERE = Path(__file__).parent


def _benign_train(root: Path, rng: random.Random) -> list[str]:
    sets = datasets.benign_requests(root)
    requests = [t for s in sets.values() for t in s["train"]]
    return requests + datasets.extra_benign(root, rng) + datasets.everyday_zh(rng)


def _tpr_at_2pct(pos: np.ndarray, neg: np.ndarray) -> float:
    threshold = np.sort(neg)[::-1][int(0.02 * len(neg))]
    return float((pos > threshold).mean())


def fit(positive: list[str], negative: list[str]) -> textclf.LinearTextClassifier:
    """Choose the regularisation C on a validation fifth of the *training* data (TPR at 2% FPR),
    then fit on all of it."""
    rng = random.Random(7)
    items = [(t, 1) for t in positive] + [(t, 0) for t in negative]
    rng.shuffle(items)
    cut = len(items) // 5
    val, fit_part = items[:cut], items[cut:]
    best_c, best = 1.0, -1.0
    for c in (1.0, 4.0, 16.0, 64.0):
        model = textclf.train([t for t, _ in fit_part], [y for _, y in fit_part], c=c)
        scores = model.scores([t for t, _ in val])
        labels = np.array([y for _, y in val])
        tpr = _tpr_at_2pct(scores[labels == 1], scores[labels == 0])
        if tpr > best:
            best_c, best = c, tpr
    return textclf.train(positive + negative, [1] * len(positive) + [0] * len(negative), c=best_c)


def build(root: Path, out_dir: Path = HERE) -> dict[str, int]:
    rng = random.Random(0)
    benign = _benign_train(root, rng)
    sizes = {}

    direct = datasets.direct_attacks(root)["train"]
    model = fit(direct, benign)
    model.save(out_dir / "injection.npz")
    sizes["injection"] = len(direct)

    # Documents are scored segment by segment (injection.segments): an instruction is one
    # segment among ordinary ones, so the classifier learns instruction vs document text.
    instructions = datasets.bipia_attacks(root, "train")
    clean = [
        seg
        for doc in datasets.emails(root)["train"] + datasets.extra_benign(root, rng)[:1500]
        for seg in injection.segments(doc)
    ]
    model = fit(instructions, clean)
    model.save(out_dir / "injection_doc.npz")
    sizes["injection_doc"] = len(instructions)

    harmful = datasets.harmful_requests(root)["train"]
    model = fit(harmful, benign)
    model.save(out_dir / "harmful.npz")
    sizes["harmful"] = len(harmful)
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
