"""Image data loaders and the fixed-classifier metrics (baselines from the issue)."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc.models.image.data import ImageSet, load_folder, load_mnist
from aigc.models.image.quality import FixedClassifier, evaluate
from aigc.models.image.sampling import allowed_sizes, class_index, label_from_prompt, upscale

MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "images"


def test_real_digits_are_close_noise_is_far(digits: ImageSet, classifier: FixedClassifier) -> None:
    train, held_out = digits.even(), digits.odd()
    real = evaluate(classifier, train.images, held_out.images, held_out.labels)
    noise = np.random.default_rng(0).random(held_out.images.shape).astype(np.float32)
    fake = evaluate(classifier, train.images, noise)
    assert real.frechet < 1.0 < 20.0 < fake.frechet  # the baselines: ~0.16 vs ~39
    assert real.score > 8.0 > fake.score
    assert real.class_accuracy is not None and real.class_accuracy > 0.9


def test_folder_with_classes_and_captions(tmp_path: Path) -> None:
    for cls, value in (("cats", 40), ("猫狗", 200)):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (20, 12), (value, i * 50, 0)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "captions.jsonl").write_text(
        json.dumps({"file": "cats/0.png", "caption": "a red cat"}) + "\n", encoding="utf-8"
    )
    data = load_folder(tmp_path, size=8)
    assert data.images.shape == (4, 3, 8, 8) and data.classes == ["cats", "猫狗"]
    assert list(data.labels) == [0, 0, 1, 1]
    assert data.captions[0] == ["a red cat"] and data.captions[1] == []
    assert data.images.min() >= 0 and data.images.max() <= 1
    with pytest.raises(ValueError, match="between 8 and 128"):
        load_folder(tmp_path, size=4)


def test_mnist_idx_files(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    header = struct.pack(">HBB3I", 0, 8, 3, 2, 28, 28)
    (tmp_path / "mnist-t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header + images.tobytes())
    )
    (tmp_path / "mnist-t10k-labels-idx1-ubyte").write_bytes(
        struct.pack(">HBBI", 0, 8, 1, 2) + bytes([7, 3])
    )
    data = load_mnist(tmp_path)
    assert data.images.shape == (2, 1, 28, 28) and list(data.labels) == [7, 3]
    assert np.allclose(data.images[0, 0] * 255, images[0])


@pytest.mark.skipif(not MNIST.is_dir(), reason="shared MNIST data not present")
def test_real_mnist_when_present() -> None:
    data = load_mnist(MNIST)
    assert data.images.shape == (10000, 1, 28, 28) and set(data.labels) == set(range(10))


def test_prompts_name_classes_in_english_and_chinese() -> None:
    digits = [str(i) for i in range(10)]
    assert label_from_prompt("a handwritten 3", digits) == 3
    assert label_from_prompt("手写数字三", digits) == 3
    assert label_from_prompt("please draw a Seven", digits) == 7
    assert label_from_prompt("a cat", digits) is None
    assert label_from_prompt("a photo of a shoe", ["bag", "shoe"]) == 1
    assert class_index("七", digits) == 7


def test_sizes_are_native_and_integer_upscales() -> None:
    assert allowed_sizes(8)[:3] == [8, 16, 24] and allowed_sizes(8)[-1] == 128
    assert allowed_sizes(28) == [28, 56, 84, 112]
    img = np.arange(4, dtype=np.uint8).reshape(1, 2, 2, 1)
    big = upscale(img, 4)
    assert big.shape == (1, 4, 4, 1) and big[0, 1, 1, 0] == 0 and big[0, 3, 3, 0] == 3
