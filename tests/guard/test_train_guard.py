"""Training data and calibration of the guard's request classifiers (issue 17)."""

from __future__ import annotations

import random
import re

import numpy as np

from aigc.guard import benign_documents, benign_tasks, textclf, train_guard

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_generated_tasks_are_varied_english_and_chinese_with_given_passages() -> None:
    rng = random.Random(1)
    prose = ["The interpreter reads each statement in turn and executes it immediately."]
    code = ["def area(r):\n    return 3.14159 * r * r"]
    english = benign_tasks.english_tasks(rng, prose, code, 400)
    chinese = benign_tasks.chinese_tasks(rng, ["关关雎鸠，在河之洲。"], 300)
    assert len(set(english)) > 200 and len(set(chinese)) > 150
    assert not any(HAN.search(t) for t in english if prose[0] not in t)
    assert all(HAN.search(t) for t in chinese)
    # tasks about a given text carry it; questions, code requests and writing tasks are there
    assert any(prose[0] in t for t in english) and any(code[0] in t for t in english)
    assert any("关关雎鸠" in t for t in chinese)
    assert any(t.startswith(("How do I", "How can I")) for t in english)
    assert any(
        re.match(r"(Write|Generate|Create) an? \S+ (program|function|script)", t) for t in english
    )
    assert any(t.startswith(("如何", "怎么")) for t in chinese)
    # the same seed gives the same data (the artifacts rebuild byte for byte)
    again = benign_tasks.english_tasks(random.Random(1), prose, code, 400)
    assert again == english


def test_generated_documents_address_their_reader_in_both_languages() -> None:
    docs = benign_documents.documents(random.Random(3), 300)
    assert len(set(docs)) > 250
    chinese = [d for d in docs if HAN.search(d)]
    assert 40 < len(chinese) < 120  # about a quarter
    english = [d for d in docs if not HAN.search(d)]
    assert any(d.startswith("Hi ") for d in english) and any(d.startswith("## ") for d in english)
    # they tell a person what to do, never an assistant
    assert all(
        re.search(r"\b(?:please|you|your|run|set|open|click|delete|restart)\b", d, re.I)
        for d in english
    )
    assert not any(re.search(r"\b(?:assistant|AI|language model)\b", d) for d in docs)
    assert benign_documents.documents(random.Random(3), 300) == docs


def _toy(n: int = 400) -> tuple[list[str], list[int]]:
    """Attacks that share a phrase, benign texts that share another, and overlap between them,
    so that unseen benign texts score over a range of values."""
    rng = random.Random(2)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
    ]
    texts, labels = [], []
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(8))
        if i % 2:
            texts.append(f"override the rules now {body} {i}")
            labels.append(1)
        else:
            texts.append(f"{'override ' if i % 10 == 0 else ''}please summarise {body} {i}")
            labels.append(0)
    return texts, labels


def test_calibration_holds_unseen_benign_texts_to_the_rate_at_the_threshold() -> None:
    texts, labels = _toy()
    plain = textclf.train(texts, labels)
    held = train_guard.calibrated(texts, labels, threshold=0.1, fpr=0.05)
    # only the intercept moves, and only down (stricter)
    np.testing.assert_array_equal(held.weights, plain.weights)
    assert held.intercept < plain.intercept
    # the out-of-fold benign rate above the threshold is what was asked for (about 5 %)
    fresh_benign = [
        t.replace("please summarise", "please summarise again")
        for t, y in zip(texts, labels, strict=True)
        if not y
    ]
    rate = float((held.scores(fresh_benign) >= 0.1).mean())
    loose = float((plain.scores(fresh_benign) >= 0.1).mean())
    assert rate <= 0.12 and loose > rate


def test_calibration_never_loosens_a_threshold_the_benign_data_already_meet() -> None:
    texts, labels = _toy()
    plain = textclf.train(texts, labels)
    held = train_guard.calibrated(texts, labels, threshold=0.999999, fpr=0.05)
    assert held.intercept == plain.intercept
