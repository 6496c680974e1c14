"""A small character n-gram linear classifier, stored without pickle.

Features are hashed character 1–4-grams of the lower-cased text (scikit-learn's
``HashingVectorizer``, so no vocabulary is stored and Chinese needs no segmentation), and the
model is a logistic regression. The artifact is an ``.npz`` holding the weights as float16, the
intercept and the vectorizer settings: a few hundred kilobytes, loaded with ``numpy.load``
(``allow_pickle=False``), so a tampered file cannot run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import HashingVectorizer

from aigc.infra.canonical_text import canonical

N_FEATURES = 2**18
NGRAMS = (1, 4)


@cache
def vectorizer(n_features: int = N_FEATURES) -> HashingVectorizer:
    """One per size: it holds no state (hashing needs no vocabulary), so threads share it."""
    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=NGRAMS,
        n_features=n_features,
        alternate_sign=False,
        norm="l2",
        lowercase=True,
    )


class Scorer(Protocol):
    """Anything that scores texts 0–1 (the shipped classifier, or a bench's own)."""

    def scores(self, texts: list[str]) -> np.ndarray: ...

    def score(self, text: str) -> float: ...


@dataclass
class LinearTextClassifier:
    weights: np.ndarray  # (n_features,)
    intercept: float
    n_features: int

    def logits(self, texts: list[str]) -> np.ndarray:
        """Log-odds of the positive class for each text."""
        if len(texts) == 1:
            x = _hashed(texts[0], self.n_features)
        else:
            x = vectorizer(self.n_features).transform(texts)
        return x @ self.weights + self.intercept  # float32 already (load, train)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Probability of the positive class for each text."""
        return 1.0 / (1.0 + np.exp(-self.logits(texts)))

    def score(self, text: str) -> float:
        return float(self.scores([text])[0])

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            intercept=np.array([self.intercept], dtype=np.float64),
            n_features=np.array([self.n_features]),
        )


@lru_cache(maxsize=64)  # a sparse row is ~50 KB for 4,000 characters
def _hashed(text: str, n_features: int) -> csr_matrix:
    """One text's hashed n-grams, kept for the next classifier: a moderation request scores
    the same text for harm and for injection (hashing is most of a classifier's time)."""
    return vectorizer(n_features).transform([text])


@cache
def load(path: Path) -> LinearTextClassifier | None:
    """The classifier at ``path``, or None when it is not there (rules alone then)."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        return LinearTextClassifier(
            weights=data["weights"].astype(np.float32),
            intercept=float(data["intercept"][0]),
            n_features=int(data["n_features"][0]),
        )


def train(texts: list[str], labels: list[int], c: float = 4.0) -> LinearTextClassifier:
    """A classifier of ``texts`` read as the checks that score with it read theirs
    (``infra.canonical_text.canonical``: simplified characters, ASCII for full-width forms)."""
    from sklearn.linear_model import LogisticRegression

    x = vectorizer().transform([canonical(t) for t in texts])
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit(x, labels)
    return LinearTextClassifier(
        weights=model.coef_[0].astype(np.float32),
        intercept=float(model.intercept_[0]),
        n_features=N_FEATURES,
    )
