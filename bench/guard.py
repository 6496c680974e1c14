"""Guard latency: p50/p99 of the input and output stages on 1 KB and 10 KB texts.

Rule sets:

* ``default``: the default policy every tenant gets (secrets redacted on input, injection
  flagged), once with the rules alone (classifier artifacts hidden) and once with the classifier;
* ``full``: every PII entity pseudonymised on input, injection and moderation on input, and on
  output PII redaction plus a keyword block, with the output fed as a stream of 4-character
  deltas through the look-behind window (what a streamed answer costs).

The text is ordinary English and Chinese office prose with a few e-mails, phone numbers and a
key mixed in. Anchors from the issue: NeMo Guardrails 60–90 ms per rail, Guardrails AI ~100 ms.

    python bench/guard.py [--rounds 200]     # writes bench/results/guard.json

Timings on a shared 2-core machine are noisy: re-measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from aigc.guard import gate, injection, moderation, pii
from aigc.guard.policy import DEFAULT_POLICY, parse_policy
from aigc.models.protocols import ChatMessage, TextRequest

RESULTS = Path(__file__).resolve().parent / "results" / "guard.json"
FULL_POLICY = parse_policy(
    """
name: full
rules:
  - {id: pii, stage: input, detector: pii, action: pseudonymize}
  - {id: injection, stage: input, detector: injection, threshold: 0.6, action: flag}
  - {id: harmful, stage: input, detector: moderation, threshold: 0.9, action: flag}
  - {id: pii-out, stage: output, detector: pii, entities: [EMAIL_ADDRESS, PHONE_NUMBER,
     CREDIT_CARD, CN_MOBILE, CN_RESIDENT_ID, SECRET], action: redact}
  - {id: codename, stage: output, detector: keywords, words: [Project Falcon], action: block}
"""
)
SENTENCES = [
    "Please summarise the attached quarterly report for the finance team.",
    "The meeting with the vendor moved to Thursday at 3 pm in room 4B.",
    "请把这份报告翻译成英文，并在周五之前发给张经理。",
    "Our new onboarding checklist covers laptops, badges and training.",
    "客户反馈物流太慢，我们需要和供应商重新谈交货时间。",
    "You can reach Anna Berg at anna.berg@example.com or +44 20 7946 0958.",
    "有问题请联系王伟，手机13912345678。",
    "The staging key is sk-proj-Q8vLm2Zr7TxW4yKp9BnC3dHf, rotate it monthly.",
    "Budget approval for the workshop is still pending with procurement.",
]


def make_text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    while len(" ".join(parts).encode()) < size:
        parts.append(rng.choice(SENTENCES))
    return " ".join(parts)


def measure(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def run_request(policy_list: list, text: str, chunk: int = 4) -> None:
    request = TextRequest(messages=[ChatMessage("user", text)], max_tokens=10)
    codes: list[str] = []
    [req], session = gate.guard_input(policy_list, "m", None, [request], codes)
    assert req.messages is not None
    if session.passthrough:
        return
    answer = req.messages[0].content  # an answer as long as the question
    out = session.output_guard()
    for i in range(0, len(answer), chunk):
        out.feed(answer[i : i + chunk])
    out.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pii.detect("warm up the word lists: Anna Berg lives at 216 Menzies Street")
    rows = []
    saved = (injection.ARTIFACT, injection.DOCUMENT_ARTIFACT, moderation.ARTIFACT)
    configs = [("default, rules only", [DEFAULT_POLICY], False)]
    configs += [("default + classifier", [DEFAULT_POLICY], True)]
    configs += [("full, streamed output", [FULL_POLICY], True)]
    print(f"{'rule set':<24} {'size':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for name, policies, classifier in configs:
        if not classifier:
            missing = Path("/nonexistent/none.npz")
            injection.ARTIFACT = injection.DOCUMENT_ARTIFACT = moderation.ARTIFACT = missing
        for size in (1024, 10240):
            text = make_text(size, seed=size)
            rounds = args.rounds if size == 1024 else max(20, args.rounds // 5)
            p50, p99 = measure(lambda t=text, p=policies: run_request(p, t), rounds)
            rows.append({"rule_set": name, "bytes": size, "p50_ms": p50, "p99_ms": p99})
            print(f"{name:<24} {size:>6} {p50:8.2f} {p99:8.2f}")
        injection.ARTIFACT, injection.DOCUMENT_ARTIFACT, moderation.ARTIFACT = saved
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": "shared 2-core machine; re-measure on a quiet machine",
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
