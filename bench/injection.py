"""Injection, jailbreak and harmful-request detection: TPR at FPR <= 2% on held-out splits.

The splits come from ``aigc.guard.datasets`` (the classifiers were trained on the other side):

* direct: Giskard prompts + GPTFuzz templates (templates unseen in training) filled with GPTFuzz
  questions, scored by ``injection.score`` (rules + classifier);
* indirect: BIPIA attack instructions inserted into BIPIA e-mails (e-mails and attacks unseen),
  scored by ``injection.score_document``, against the clean test e-mails;
* harmful: jade-db (zh) and GPTFuzz questions, scored by the moderation categories
  (``moderation.harmful_score``).

Benign sets for direct and harmful: the BIPIA attack instructions asked directly, MS MARCO
queries and the workplace requests written for this project (test sides). The threshold is the
lowest score that keeps the false-positive rate at or below 2%; the table shows the TPR there,
and also at the product's default thresholds (the default policy's injection rules, and
``moderation.THRESHOLD`` for /v1/moderations).

    python bench/injection.py      # writes bench/results/injection.json
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

from aigc.guard import datasets, injection, moderation
from aigc.guard.policy import DEFAULT_POLICY

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "injection.json"
MAX_FPR = 0.02


def tpr_at_fpr(positive: list[float], negative: list[float]) -> tuple[float, float, float]:
    """(threshold, TPR, FPR) at the lowest threshold whose FPR <= MAX_FPR."""
    neg = np.sort(np.array(negative))[::-1]
    allowed = int(np.floor(MAX_FPR * len(neg)))
    threshold = float(neg[allowed]) + 1e-9 if allowed < len(neg) else 0.0
    pos = np.array(positive)
    return threshold, float((pos >= threshold).mean()), float((neg >= threshold).mean())


def rate(scores: list[float], threshold: float) -> float:
    return float((np.array(scores) >= threshold).mean())


def main() -> None:
    if not DATA.exists():
        print(f"{DATA} not found: nothing to measure", file=sys.stderr)
        return
    benign_sets = {name: s["test"] for name, s in datasets.benign_requests(DATA).items()}
    benign = [t for texts in benign_sets.values() for t in texts]
    default = {r.id: r.threshold for r in DEFAULT_POLICY.rules}
    cases = {
        "direct": (
            datasets.direct_attacks(DATA)["test"],
            benign,
            injection.score,
            default["injection"],
        ),
        "indirect": (
            datasets.indirect_attacks(DATA)["test"],
            datasets.emails(DATA)["test"],
            injection.score_document,
            default["indirect-injection"],
        ),
        "harmful": (
            datasets.harmful_requests(DATA)["test"],
            benign,
            moderation.harmful_score,
            moderation.THRESHOLD,
        ),
    }
    rows = {}
    header = f"{'set':<9} {'pos':>5} {'neg':>5} {'thr@2%':>7} {'TPR':>6} {'FPR':>6}"
    header += f" {'default':>8} {'TPR':>6} {'FPR':>6} {'ms/text':>8}"
    print(header)
    for name, (positive, negative, score, default) in cases.items():
        started = time.perf_counter()
        pos = [score(t) for t in positive]
        neg = [score(t) for t in negative]
        per_text = (time.perf_counter() - started) * 1000 / (len(pos) + len(neg))
        threshold, tpr, fpr = tpr_at_fpr(pos, neg)
        d_tpr, d_fpr = rate(pos, default), rate(neg, default)
        per_benign = {n: rate([score(t) for t in ts], default) for n, ts in benign_sets.items()}
        rows[name] = {
            "positives": len(pos),
            "negatives": len(neg),
            "threshold_at_2pct_fpr": threshold,
            "tpr": tpr,
            "fpr": fpr,
            "default_threshold": default,
            "tpr_at_default": d_tpr,
            "fpr_at_default": d_fpr,
            "fpr_at_default_per_benign_set": per_benign if name != "indirect" else None,
            "ms_per_text": per_text,
        }
        print(
            f"{name:<9} {len(pos):5d} {len(neg):5d} {threshold:7.3f} {tpr:6.3f} {fpr:6.3f}"
            f" {default:8.2f} {d_tpr:6.3f} {d_fpr:6.3f} {per_text:8.2f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "max_fpr": MAX_FPR}
    RESULTS.write_text(json.dumps(out | {"sets": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
