"""Guard patterns stay linear on adversarial text (issue 14, defect 3).

Tenant patterns (regex and keyword rules) are compiled by RE2, which is linear by construction:
checked structurally. The built-in PII/injection/moderation patterns are Python ``re`` (they use
lookarounds) and are fuzzed instead: long runs of each character class, where the time for 4x
the text must grow about 4x (a quadratic pattern grows 16x)."""

from __future__ import annotations

import time

import pytest

from aigc.guard import injection, moderation, pii, textclf
from aigc.guard.policy import PolicyError, parse_policy
from aigc.infra import linear_re, regex_gate

POLICY = """
name: t
rules:
  - id: codes
    stage: input
    detector: regex
    pattern: '(?P<code>[a-z]*-?\\d[a-z0-9-]*)\\s*号?打印机'
    action: redact
  - id: words
    stage: output
    detector: keywords
    words: [Project Falcon, 猎鹰计划, "a+b (c)"]
    action: block
"""


def test_tenant_patterns_are_compiled_by_re2() -> None:
    policy = parse_policy(POLICY)
    assert all(linear_re.is_linear(rule.compiled) for rule in policy.rules)
    words = policy.rules[1].compiled
    assert words is not None
    assert words.search("about PROJECT falcon") and words.search("x a+b (c) y")


@pytest.mark.parametrize(
    "pattern", ["secret(?!ary)", "(?<=key=)\\w+", "(a)\\1", "(?=x)", "unclosed("]
)
def test_a_pattern_re2_cannot_run_is_refused_naming_the_field(pattern: str) -> None:
    text = POLICY.replace("'(?P<code>[a-z]*-?\\d[a-z0-9-]*)\\s*号?打印机'", f"'{pattern}'")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.problems[0].startswith("rules.0.pattern:")


ADVERSARIAL = [
    "a", "A", "1", " ", "-", ".", "@", ":", "_", "\n", "中", "a-", "a.", "a@", "1-", "1 ",
    "a ", "A ", "A\n", "1\n", "a://x:", "1,", "+", "/", "=", "a'",
]  # fmt: skip


def _scan(text: str) -> None:
    pii.detect(text, pii.ALL_ENTITIES)
    injection.score(text)
    injection.score_document(text)
    moderation.category_scores(text)


def _forget() -> None:
    """Empty the caches of one text's work (its hashed n-grams, its words' n-grams, its case
    fold), so that every timed scan does the whole of it: a text that fits one classifier
    window was hashed once and then found in the cache, a longer one hashed every time, and
    the ratio measured the cache, not the growth."""
    textclf._hashed.cache_clear()
    textclf._known_word.cache_clear()
    regex_gate._folded_utf8.cache_clear()


def _seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        _forget()
        t0 = time.perf_counter()
        _scan(text)
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_builtin_guard_scans_grow_linearly(unit: str) -> None:
    small, large = unit * (2_500 // len(unit)), unit * (10_000 // len(unit))
    t_small, t_large = _seconds(small), _seconds(large)
    # 4x the text: about 4x the time when linear, 16x when quadratic. The floor keeps timer
    # noise on tiny times from counting.
    assert t_large <= 10 * max(t_small, 0.005), (unit, t_small, t_large)
