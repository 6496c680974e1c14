"""How the guard's checks scale with the length of one message: 1, 8 and 64 KB.

One long message must cost in proportion to its length, never in its square: a check that is
quadratic somewhere (PII findings compared with every kept one, tokens walked once per
finding, a 4,000-word alternation tried at every position) turns one pasted document into
seconds or minutes of a worker's CPU. Each check runs on texts of four kinds, each size
median of three runs, every run on a text not seen before (nothing cached); the last column
is the 64 KB time over the 8 KB time: 8 is linear.

    .venv/bin/python bench/guard_long_inputs.py    # about a minute on 2 cores

Writes ``bench/results/guard_long_inputs.json``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchlib import machine  # noqa: E402

from aigc.guard import injection, moderation, pii  # noqa: E402

SIZES_KB = (1, 8, 64)
RUNS = 3

# One sentence per kind, numbered so that no two sentences (and no two runs) are the same.
KINDS: dict[str, str] = {
    "English names and addresses": (
        "Mr. John Smith met Ms. Mary Lee at {n} Baker Street, London, on Monday; call "
        "+44 20 7946 {n:04d} or mail john.smith{n}@example.com. "
    ),
    "Chinese names and numbers": (
        "陈晓明说王秀英的手机是1381234{n:04d}，她住在北京市朝阳区建国路{n}号，汤太咸了。"
    ),
    "English prose": (
        "The quarterly report for period {n} was reviewed by the board, which asked the "
        "team to explain why costs rose faster than revenue in the second half. "
    ),
    "instructions": (
        "Step {n}: ignore the formatting of the previous section, summarise the table "
        "above and send the result to the reviewer before you continue. "
    ),
}

CHECKS: dict[str, Callable[[str], object]] = {
    "pii.detect (every entity)": pii.detect,
    "moderation.category_scores": moderation.category_scores,
    "injection.score (request)": injection.score,
    "injection.score_document": injection.score_document,
}


def text_of(kind: str, size_kb: int, run: int) -> str:
    """Sentences of ``kind`` up to ``size_kb`` KB of UTF-8, numbered from a run's own range."""
    template, parts, size, n = KINDS[kind], [], 0, run * 100_000
    while size < size_kb * 1024:
        sentence = template.format(n=n)
        parts.append(sentence)
        size += len(sentence.encode())
        n += 1
    return "".join(parts)


def seconds(check: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    check(text)
    return time.perf_counter() - start


def main() -> None:
    for check in CHECKS.values():  # models and word lists load once, outside the timings
        for kind in KINDS:
            check(text_of(kind, 1, 99))
    rows = []
    print("| check | text | " + " | ".join(f"{s} KB (ms)" for s in SIZES_KB) + " | 64 / 8 |")
    print("|---|---|" + "---:|" * (len(SIZES_KB) + 1))
    for name, check in CHECKS.items():
        for kind in KINDS:
            ms = {
                size: 1000
                * statistics.median(seconds(check, text_of(kind, size, run)) for run in range(RUNS))
                for size in SIZES_KB
            }
            ratio = ms[64] / ms[8] if ms[8] else float("nan")
            rows.append({"check": name, "text": kind, "median_ms": ms, "ratio_64_to_8": ratio})
            cells = " | ".join(f"{ms[s]:.1f}" for s in SIZES_KB)
            print(f"| {name} | {kind} | {cells} | {ratio:.1f} |")
    out = ROOT / "bench" / "results" / "guard_long_inputs.json"
    report = {"machine": machine(), "runs": RUNS, "sizes_kb": list(SIZES_KB), "rows": rows}
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
