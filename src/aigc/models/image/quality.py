"""Image quality by numbers, with one fixed classifier instead of the eye.

The classifier is scikit-learn's ``MLPClassifier(hidden_layer_sizes=(64,), random_state=0,
max_iter=500)`` trained on the even-indexed real images (pixels in [0, 1]). From it:

* **Fréchet distance** between the hidden-ReLU features of two image sets (FID's formula with a
  small, deterministic feature extractor): 0 for identical distributions;
* **classifier score** exp(E_x KL(p(y|x) ‖ p(y))) (the Inception Score's formula): high when
  each image is clearly one class and all classes appear; at most the number of classes;
* **class accuracy**: how often a sample generated for class k is classified as k.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from sklearn.neural_network import MLPClassifier

from aigc.models.image.data import ImageSet


class FixedClassifier:
    """The evaluation classifier: fit once on real training images, then frozen."""

    def __init__(self, train: ImageSet) -> None:
        self.mlp = MLPClassifier(hidden_layer_sizes=(64,), random_state=0, max_iter=500)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.mlp.fit(_flat(train.images), train.labels)
        self.shape = train.images.shape[1:]

    def features(self, images: np.ndarray) -> np.ndarray:
        """Hidden-layer ReLU activations, shape (N, 64)."""
        x = _flat(self._check(images))
        return np.maximum(x @ self.mlp.coefs_[0] + self.mlp.intercepts_[0], 0.0)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.mlp.predict_proba(_flat(self._check(images)))

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.probabilities(images).argmax(axis=1)

    def _check(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float64)
        if images.ndim == len(self.shape):  # one image
            images = images[None]
        if images.shape[1:] != self.shape:
            raise ValueError(f"images must be shaped (N, {self.shape}), not {images.shape}")
        return images


def _flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float64).reshape(len(images), -1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) between two feature sets (rows are samples)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # rank-deficient covariances (dead ReLUs) are expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * covmean))


def classifier_score(probabilities: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))): between 1 and the number of classes."""
    p = np.clip(probabilities, eps, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p) - np.log(marginal))).sum(axis=1)
    return float(np.exp(kl.mean()))


@dataclass
class Quality:
    frechet: float
    score: float
    class_accuracy: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "frechet_distance": round(self.frechet, 4),
            "classifier_score": round(self.score, 4),
            "class_accuracy": None
            if self.class_accuracy is None
            else round(self.class_accuracy, 4),
        }


def evaluate(
    classifier: FixedClassifier,
    reference: np.ndarray,
    samples: np.ndarray,
    asked_labels: np.ndarray | None = None,
) -> Quality:
    """Compare ``samples`` with ``reference`` images; with ``asked_labels``, class accuracy."""
    fd = frechet_distance(classifier.features(reference), classifier.features(samples))
    probs = classifier.probabilities(samples)
    accuracy = None
    if asked_labels is not None:
        accuracy = float((probs.argmax(axis=1) == np.asarray(asked_labels)).mean())
    return Quality(fd, classifier_score(probs), accuracy)
