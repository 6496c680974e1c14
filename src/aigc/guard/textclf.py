"""A small character n-gram linear classifier, stored without pickle.

Features are hashed character 1–4-grams of the lower-cased text (scikit-learn's
``HashingVectorizer``, so no vocabulary is stored and Chinese needs no segmentation), and the
model is a logistic regression. ``hashed`` computes the vectorizer's output word by word and
remembers the n-grams of words it has seen: the same matrix, several times faster on text
whose words recur (hashing was a third of a moderation request's time). The artifact is an
``.npz`` holding the weights as float16, the intercept and the vectorizer settings: a few
hundred kilobytes, loaded with ``numpy.load`` (``allow_pickle=False``), so a tampered file
cannot run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from aigc.infra.canonical_text import canonical

N_FEATURES = 2**18
NGRAMS = (1, 4)


@cache
def vectorizer(n_features: int = N_FEATURES) -> HashingVectorizer:
    """The features' definition, which ``hashed`` computes faster (tests hold the two equal).
    One per size: it holds no state (hashing needs no vocabulary), so threads share it."""
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
            x = hashed(texts, self.n_features)
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
    return hashed([text], n_features)


def hashed(texts: list[str], n_features: int = N_FEATURES) -> csr_matrix:
    """``vectorizer(n_features).transform(texts)``, the same matrix: each lower-cased word,
    padded with a space each side, gives its character 1–4-grams (a word shorter than n gives
    itself once), hashed with MurmurHash3 (seed 0) to ``abs(hash) % n_features``, counted and
    scaled to unit length per text."""
    indptr, columns, values = [0], [], []
    for text in texts:
        words = text.lower().split()
        grams = [
            (_known_word if len(w) <= KNOWN_WORD_CHARS else _word)(w, n_features) for w in words
        ]
        cols, counts = np.unique(np.concatenate(grams) if grams else _NONE, return_counts=True)
        weights = counts.astype(np.float64)
        if len(weights):
            weights /= np.sqrt(weights @ weights)
        columns.append(cols)
        values.append(weights)
        indptr.append(indptr[-1] + len(cols))
    return csr_matrix(
        (np.concatenate(values), np.concatenate(columns), np.array(indptr, dtype=np.int32)),
        shape=(len(texts), n_features),
    )


_NONE = np.zeros(0, dtype=np.int32)
# Words up to this length are remembered (about 200 bytes each); longer runs are mostly
# Chinese clauses, which have no spaces between words and seldom recur whole.
KNOWN_WORD_CHARS = 24


def _word(word: str, n_features: int) -> np.ndarray:
    """The hashed columns of one word's n-grams, in HashingVectorizer's ``char_wb`` order."""
    padded = f" {word} "
    hashes = []
    for n in range(NGRAMS[0], NGRAMS[1] + 1):
        hashes += [murmurhash3_32(padded[at : at + n]) for at in range(max(len(padded) - n + 1, 1))]
        if len(padded) <= n:  # a padded word no longer than n is counted once, as itself
            break
    columns = (np.abs(np.array(hashes, dtype=np.int64)) % n_features).astype(np.int32)
    columns.flags.writeable = False  # shared by every text the word is in
    return columns


_known_word = lru_cache(maxsize=2**15)(_word)  # ~7 MB when full


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

    x = hashed([canonical(t) for t in texts])
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit(x, labels)
    return LinearTextClassifier(
        weights=model.coef_[0].astype(np.float32),
        intercept=float(model.intercept_[0]),
        n_features=N_FEATURES,
    )
