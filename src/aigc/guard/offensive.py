"""Offensive English (insults, slurs, obscenity): the ``harassment`` signal of moderation.

The model is alt-profanity-check's (a TF-IDF of English words and five linear SVMs with sigmoid
calibration, trained on about 200k labelled comments, shipped in its wheel). Its own
``predict_prob`` spends ~3.5 ms per text in scikit-learn's per-call machinery, a third of the
/v1/moderations budget, so its vocabulary, IDF weights and the five linear models are read once
and one text is scored with a dictionary lookup per word: the same probabilities
(``tests/guard/test_offensive.py`` compares them) in ~0.1 ms.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np

from aigc.guard import windows

log = logging.getLogger(__name__)

_LATIN_WORD = re.compile(r"[A-Za-z]{2}")


class Scorer(Protocol):
    def probability(self, text: str) -> float: ...


class PackageScorer:
    """The package's own ``predict_prob`` (slow): used only when its model is not the shape
    ``OffensiveModel`` reads, so a new release degrades speed, never correctness."""

    def probability(self, text: str) -> float:
        from profanity_check import predict_prob

        return float(predict_prob([text])[0])


@dataclass(frozen=True)
class OffensiveModel:
    vocabulary: dict[str, int]  # word -> column (stop words were never in it)
    idf: np.ndarray  # (n_words,)
    token: re.Pattern[str]  # the vectorizer's token pattern
    weights: np.ndarray  # (n_words, n_models): each calibrated SVM's coefficients
    intercepts: np.ndarray  # (n_models,)
    slopes: np.ndarray  # sigmoid calibration a_, per model
    offsets: np.ndarray  # sigmoid calibration b_, per model

    def probability(self, text: str) -> float:
        """P(offensive): the l2-normalised TF-IDF of the lower-cased words, each SVM's decision
        d, and the mean over the models of sigmoid(-(a·d + b)), as the package's vectorizer and
        ``CalibratedClassifierCV.predict_proba`` compute it."""
        counts = Counter(
            self.vocabulary[w] for w in self.token.findall(text.lower()) if w in self.vocabulary
        )
        decisions = self.intercepts.copy()
        if counts:
            columns = np.fromiter(counts, dtype=np.int64)
            values = np.fromiter(counts.values(), dtype=np.float64) * self.idf[columns]
            decisions += (values / np.linalg.norm(values)) @ self.weights[columns]
        return float((1.0 / (1.0 + np.exp(self.slopes * decisions + self.offsets))).mean())


@cache
def model() -> Scorer:
    """The package's model, unpacked once (importing the package loads it, ~1 MB)."""
    from profanity_check import profanity_check as package

    calibrated = package.model.calibrated_classifiers_
    vectorizer = package.vectorizer
    expected = {"analyzer": "word", "ngram_range": (1, 1), "lowercase": True, "norm": "l2"}
    settings = vectorizer.get_params()
    if (
        package.model.method != "sigmoid"
        or any(len(c.calibrators) != 1 for c in calibrated)
        or any(settings[k] != v for k, v in expected.items())
        or settings["sublinear_tf"]
        or settings["strip_accents"] is not None
        or settings["preprocessor"] is not None
        or settings["tokenizer"] is not None
    ):
        log.warning("alt-profanity-check's model is not the shape offensive.py reads: slow path")
        return PackageScorer()
    return OffensiveModel(
        vocabulary={str(w): int(i) for w, i in vectorizer.vocabulary_.items()},
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        token=re.compile(settings["token_pattern"]),
        weights=np.stack([c.estimator.coef_[0] for c in calibrated], axis=1),
        intercepts=np.array([c.estimator.intercept_[0] for c in calibrated]),
        slopes=np.array([c.calibrators[0].a_ for c in calibrated]),
        offsets=np.array([c.calibrators[0].b_ for c in calibrated]),
    )


def score(text: str) -> float:
    """0–1: how likely ``text`` is offensive English, its most offensive window
    (``windows``) for a long text. Text without Latin words scores 0 (the model reads English
    words only)."""
    if not _LATIN_WORD.search(text):
        return 0.0
    return windows.highest(lambda pieces: [model().probability(p) for p in pieces], text)
