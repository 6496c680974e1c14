"""Tiny image models trained once per test session (seconds each), and the fixed classifier."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from aigc.models.image import gan, vae
from aigc.models.image.data import ImageSet, load_digits
from aigc.models.image.quality import FixedClassifier
from aigc.models.multimodal import captioner, clip, text2image


@pytest.fixture(scope="session")
def digits() -> ImageSet:
    return load_digits()


@pytest.fixture(scope="session")
def classifier(digits: ImageSet) -> FixedClassifier:
    return FixedClassifier(digits.even())


@contextmanager
def one_thread() -> Iterator[None]:
    """Train with one intra-op thread, then restore: on a busy 2-core machine, measured 9×
    faster than two threads for these tiny models (idle threads spin while waiting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image-models")


# Few-step versions of every model on the even digits (seconds each on a quiet machine; one
# fixture per model so each test pays only for what it uses). Quality runs live in bench/.


def tiny_vae(root: Path, digits: ImageSet) -> Path:
    """A few-step VAE on the even digits, saved under ``root`` (also the Ray tests' model)."""
    train = digits.even()
    with one_thread():
        vae.save(vae.train(vae.VAEConfig(steps=500), train), train.classes, root / "vae")
    return root / "vae"


def tiny_gan(root: Path, digits: ImageSet) -> Path:
    """A few-step GAN on the even digits, saved under ``root`` (also the Ray tests' model)."""
    train, cfg = digits.even(), gan.GANConfig(steps=60, width=16)
    with one_thread():
        gan.save(gan.train(cfg, train), cfg, train.classes, root / "gan")
    return root / "gan"


@pytest.fixture(scope="session")
def vae_dir(model_root: Path, digits: ImageSet) -> Path:
    return tiny_vae(model_root, digits)


@pytest.fixture(scope="session")
def gan_dir(model_root: Path, digits: ImageSet) -> Path:
    return tiny_gan(model_root, digits)


@pytest.fixture(scope="session")
def clip_dir(model_root: Path, digits: ImageSet) -> Path:
    train = digits.even()
    with one_thread():
        net, tok = clip.train(clip.CLIPConfig(steps=300, batch_size=64), train)
    clip.save(net, tok, train.classes, model_root / "clip")
    return model_root / "clip"


@pytest.fixture(scope="session")
def captioner_dir(model_root: Path, digits: ImageSet) -> Path:
    train = digits.even()
    with one_thread():
        net, tok = captioner.train(captioner.CaptionerConfig(steps=400), train)
    captioner.save(net, tok, train.classes, model_root / "captioner")
    return model_root / "captioner"


@pytest.fixture(scope="session")
def text2image_dir(model_root: Path, clip_dir: Path, digits: ImageSet) -> Path:
    cfg = text2image.Text2ImageConfig(steps=500)
    with one_thread():
        net = text2image.train(cfg, digits.even(), clip.CLIPModel(clip_dir))
    text2image.save(net, cfg, clip_dir, model_root / "text2image")
    return model_root / "text2image"
