"""GAN, VAE, CLIP, captioner and text-to-image: tiny trainings that must already learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aigc.models.image.data import DIGIT_NAMES_EN, DIGIT_NAMES_ZH, ImageSet
from aigc.models.image.gan import GANModel
from aigc.models.image.quality import FixedClassifier
from aigc.models.image.sampling import label_from_prompt
from aigc.models.image.vae import VAEModel
from aigc.models.multimodal.captioner import CaptionerModel
from aigc.models.multimodal.clip import CLIPModel
from aigc.models.multimodal.text2image import Text2ImageModel
from aigc.models.protocols import ImageModel, ImageRequest

# Training the tiny models (session fixtures) happens in the first test's setup; on a busy
# shared machine that can take minutes.
pytestmark = pytest.mark.timeout(600)


# Templates never used in training (see data.digit_captions).
EN_TEMPLATES = ["a photo of a {}", "an image showing {}"]
ZH_TEMPLATES = ["一张{}的照片", "图中是{}"]


def test_vae_samples_the_asked_class(vae_dir: Path, classifier: FixedClassifier) -> None:
    model = VAEModel(vae_dir)
    assert isinstance(model, ImageModel)
    images = model.generate_images(ImageRequest(prompt="a handwritten 7", n=40, seed=1))
    assert images.shape == (40, 8, 8, 1) and images.dtype == np.uint8
    predicted = classifier.predict(images.transpose(0, 3, 1, 2) / 255.0)
    assert (predicted == 7).mean() >= 0.8
    again = model.generate_images(ImageRequest(prompt="a handwritten 7", n=40, seed=1))
    assert np.array_equal(images, again)  # a seed repeats


def test_vae_interpolation_moves_between_classes(
    vae_dir: Path, classifier: FixedClassifier
) -> None:
    model = VAEModel(vae_dir)
    start, end = model.latent([1], seed=3)[0], model.latent([6], seed=3)[0]
    frames = model.interpolate(start, end, steps=6).transpose(0, 3, 1, 2) / 255.0
    probs = classifier.probabilities(frames)
    assert probs[0].argmax() == 1 and probs[-1].argmax() == 6
    assert probs[-1, 6] > probs[0, 6] and probs[0, 1] > probs[-1, 1]


def test_gan_round_trip_and_shapes(gan_dir: Path) -> None:
    model = GANModel(gan_dir)
    first = model.generate_images(ImageRequest(prompt="五", n=3, size=16, seed=5))
    assert first.shape == (3, 16, 16, 1)
    reloaded = GANModel(gan_dir)
    assert np.array_equal(first, reloaded.generate_images(ImageRequest("五", 3, 16, 5)))
    assert model.sizes[:2] == [8, 16]


def test_clip_zero_shot_in_english_and_chinese(clip_dir: Path, digits: ImageSet) -> None:
    model = CLIPModel(clip_dir)
    held_out = digits.odd()
    for names, templates in ((DIGIT_NAMES_EN, EN_TEMPLATES), (DIGIT_NAMES_ZH, ZH_TEMPLATES)):
        probs = model.zero_shot(held_out.images, names, templates)
        assert (probs.argmax(1) == held_out.labels).mean() >= 0.6  # tiny run; bench: ≥ 0.85
    texts = model.embed_texts(["a photo of a four", "一张四的照片"])
    assert torch.allclose(texts.norm(dim=1).cpu(), torch.ones(2), atol=1e-5)


def test_captioner_names_the_digit(captioner_dir: Path, digits: ImageSet) -> None:
    model = CaptionerModel(captioner_dir)
    sample = digits.odd().subset(slice(0, 100))
    for language in ("en", "zh"):
        captions = model.caption(sample.images, language)
        named = [label_from_prompt(c, sample.classes) for c in captions]
        assert np.mean(np.array(named) == sample.labels) >= 0.6  # tiny run; bench: ≥ 0.9
    assert any("\u4e00" <= ch <= "\u9fff" for ch in captions[0])


def test_text_to_image_follows_the_prompt(
    text2image_dir: Path, classifier: FixedClassifier
) -> None:
    model = Text2ImageModel(text2image_dir)
    for prompt in ("a handwritten 3", "手写数字三"):
        images = model.generate_images(ImageRequest(prompt=prompt, n=50, seed=0))
        predicted = classifier.predict(images.transpose(0, 3, 1, 2) / 255.0)
        assert (predicted == 3).mean() >= 0.5  # tiny run; bench: ≥ 0.8
