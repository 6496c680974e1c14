"""The embedding model is verified before use and cached by content hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aigc.knowledge.embed import (
    DEFAULT_MODEL_SHA256,
    Embedder,
    EmbeddingModelError,
    default_model_dir,
    file_sha256,
)


def test_the_bundled_minilm_weights_match_the_pinned_checksum() -> None:
    weights = default_model_dir() / "model.safetensors"
    assert file_sha256(weights) == DEFAULT_MODEL_SHA256
    Embedder().verify()


def test_a_tampered_model_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    embedder = Embedder(model_dir=tmp_path, expected_sha256=DEFAULT_MODEL_SHA256)
    with pytest.raises(EmbeddingModelError, match="expected 53aa5117"):
        embedder.embed(["hello"])
    with pytest.raises(EmbeddingModelError, match=r"No model\.safetensors"):
        Embedder(model_dir=tmp_path / "missing").verify()


def test_vectors_are_normalised_and_served_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    first = Embedder(cache_path=cache).embed(["年假有几天", "How many vacation days?"])
    assert first.shape == (2, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    again = Embedder(cache_path=cache)
    again._model = object()  # any attempt to run the model would now fail
    assert np.array_equal(again.embed(["How many vacation days?"])[0], first[1])
