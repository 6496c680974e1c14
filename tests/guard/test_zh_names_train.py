"""The Chinese name model's threshold rule (issue 17): the highest threshold whose held-out F1
is within one bootstrap standard error of the best."""

from __future__ import annotations

import numpy as np

from aigc.guard import zh_names, zh_names_train
from aigc.guard.zh_names import Candidate


def _examples(n: int) -> list[zh_names_train.Example]:
    return [("陈晓明说", [(0, 3)]) for _ in range(n)]


def test_a_threshold_within_the_noise_of_the_best_is_taken_higher() -> None:
    """Each example holds one name; a false candidate scores 0.25 in one example in fifty.
    From 0.3 up the false one is gone and the name (0.32) still found: F1 is the same or
    better, so the rule lands at 0.3, not at the lowest threshold F1 also reaches."""
    n = 400
    examples = _examples(n)
    probs, where = [], []
    for k in range(n):
        probs.append(0.32)
        where.append((k, Candidate(0, 3, 1)))
        if k % 50 == 0:
            probs.append(0.25)
            where.append((k, Candidate(3, 4, 0)))
    threshold, score, error = zh_names_train.choose_threshold(examples, np.array(probs), where)
    assert threshold == 0.3
    assert score == 1.0 and error == 0.0


def test_a_clearly_better_lower_threshold_wins() -> None:
    """Half the names score 0.12: only thresholds up to 0.1 find them, and F1 above that is
    far outside one standard error."""
    n = 400
    examples = _examples(n)
    probs = np.array([0.12 if k % 2 else 0.9 for k in range(n)])
    where = [(k, Candidate(0, 3, 1)) for k in range(n)]
    threshold, score, error = zh_names_train.choose_threshold(examples, probs, where)
    assert threshold == 0.1 and score == 1.0
    counts = zh_names_train.decode_counts(examples, probs, where, 0.15)
    assert zh_names_train.f1(counts) < score - 10 * max(error, 0.01)


def test_thresholds_are_scored_with_the_decoding_find_uses() -> None:
    """A surname before a form of address is reported as the surname (陈|小姐), and of two
    equally probable overlapping candidates the first is kept: the trainer's counts come from
    ``zh_names.decode``, the function ``find`` returns, so the threshold it picks is chosen
    for what the detector reports."""
    examples = [("陈小姐说", [(0, 1)]), ("王小明李", [(0, 3)])]
    where = [(0, Candidate(0, 3, 1)), (1, Candidate(0, 3, 1)), (1, Candidate(2, 4, 1))]
    probs = np.array([0.5, 0.4, 0.4])
    counts = zh_names_train.decode_counts(examples, probs, where, 0.3)
    assert counts.tolist() == [[1, 0, 1], [1, 0, 1]]
    scored = [(c, float(p)) for (k, c), p in zip(where, probs, strict=True) if k == 1]
    assert zh_names.decode("王小明李", scored, 0.3) == [(0, 3, 0.4)]
