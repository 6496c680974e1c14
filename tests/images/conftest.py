"""Tiny image models trained once per test session (seconds each), and the fixed classifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from aigc.models.image import gan, vae
from aigc.models.image.data import ImageSet, load_digits
from aigc.models.image.quality import FixedClassifier
from aigc.models.multimodal import captioner, clip, text2image


@dataclass
class TinyModels:
    root: Path
    vae: Path
    gan: Path
    clip: Path
    captioner: Path
    text2image: Path


@pytest.fixture(scope="session")
def digits() -> ImageSet:
    return load_digits()


@pytest.fixture(scope="session")
def classifier(digits: ImageSet) -> FixedClassifier:
    return FixedClassifier(digits.even())


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, digits: ImageSet) -> TinyModels:
    """Few-step versions of every model on the even digits; quality runs live in bench/."""
    root = tmp_path_factory.mktemp("image-models")
    train = digits.even()
    v = vae.train(vae.VAEConfig(steps=500), train)
    vae.save(v, train.classes, root / "vae")
    g = gan.train(gan.GANConfig(steps=60, width=16), train)
    gan.save(g, gan.GANConfig(steps=60, width=16), train.classes, root / "gan")
    c, tok = clip.train(clip.CLIPConfig(steps=300), train)
    clip.save(c, tok, train.classes, root / "clip")
    cap, cap_tok = captioner.train(captioner.CaptionerConfig(steps=250, width=32), train)
    captioner.save(cap, cap_tok, train.classes, root / "captioner")
    t2i_cfg = text2image.Text2ImageConfig(steps=500)
    t2i = text2image.train(t2i_cfg, train, clip.CLIPModel(root / "clip"))
    text2image.save(t2i, t2i_cfg, root / "clip", root / "text2image")
    return TinyModels(
        root, root / "vae", root / "gan", root / "clip", root / "captioner", root / "text2image"
    )
