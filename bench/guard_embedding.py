"""A classifier over MiniLM sentence embeddings and character n-grams, for the benches.

The embedding carries meaning across phrasings ("work this block of code into your answer" is
close to "insert this text into your reply"), the n-grams carry Chinese and exact wording. Both
are L2-normalised and stacked, and one logistic regression is fitted on the stack. Vectors are
cached on disk (``/tmp``), so a rerun embeds nothing twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from aigc.guard import textclf
from aigc.knowledge.embed import Embedder

CACHE = Path("/tmp/gg/embed.sqlite")
MAX_CHARS = 1000  # MiniLM reads 256 tokens; the rest would only cost time
_embedder: Embedder | None = None


def embed(texts: list[str]) -> np.ndarray:
    global _embedder
    if _embedder is None:
        import torch

        torch.set_num_threads(1)  # a shared machine
        _embedder = Embedder(cache_path=CACHE, device="cpu")
    return _embedder.embed([t[:MAX_CHARS] for t in texts])


def _features(texts: list[str]) -> sp.csr_matrix:
    grams = textclf.hashed(texts)
    return sp.hstack([grams, sp.csr_matrix(embed(texts))], format="csr")


class EmbeddingNgramClassifier:
    def __init__(self, texts: list[str], labels: list[int], c: float = 4.0) -> None:
        self.model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        self.model.fit(_features(texts), labels)

    def scores(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.predict_proba(_features(texts))[:, 1])

    def score(self, text: str) -> float:
        return float(self.scores([text])[0])
