"""Image datasets as float arrays in [0, 1]: a company's folder, sklearn's digits, MNIST IDX.

Every loader returns an ``ImageSet``: images shaped (N, C, H, W) in [0, 1], integer labels and
the class names they index, plus optional captions. Models never read files themselves, so a
folder of product photos and the built-in digits train through the same code. A folder is read
through ``infra.paths.files_under``: a link in it that leads out of it is skipped (logged, and
listed in ``ImageSet.skipped``).
"""

from __future__ import annotations

import gzip
import json
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from aigc.infra.paths import files_under, open_inside

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MIN_SIZE, MAX_SIZE = 8, 128
DIGIT_NAMES_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_NAMES_ZH = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
log = logging.getLogger("aigc.models")


@dataclass
class ImageSet:
    images: np.ndarray  # float32 (N, C, H, W) in [0, 1]
    labels: np.ndarray  # int64 (N,)
    classes: list[str]
    captions: list[list[str]] = field(default_factory=list)  # per image; may be empty
    skipped: list[str] = field(default_factory=list)  # "name: reason" from the folder walk

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, index: np.ndarray | slice) -> ImageSet:
        captions = [self.captions[i] for i in np.arange(len(self))[index]] if self.captions else []
        return ImageSet(
            self.images[index], self.labels[index], self.classes, captions, self.skipped
        )

    def even(self) -> ImageSet:
        """The even-indexed images: the training half in our benchmarks."""
        return self.subset(slice(0, None, 2))

    def odd(self) -> ImageSet:
        """The odd-indexed images: held out for evaluation."""
        return self.subset(slice(1, None, 2))


def load_digits() -> ImageSet:
    """scikit-learn's 1,797 8×8 digits (ships with the package: no download)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = (d.images / 16.0).astype(np.float32)[:, None]
    return ImageSet(images, d.target.astype(np.int64), [str(i) for i in range(10)])


def load_mnist(folder: str | Path, split: str = "t10k", size: int = 28) -> ImageSet:
    """MNIST from its IDX files (gzipped or not) in ``folder``, e.g. ``mnist-t10k-*``."""
    folder = Path(folder)
    images = _read_idx(_find(folder, f"{split}-images"), folder).astype(np.float32) / 255.0
    labels = _read_idx(_find(folder, f"{split}-labels"), folder).astype(np.int64)
    if size != images.shape[-1]:
        images = np.stack(
            [_resize(Image.fromarray((x * 255).astype(np.uint8)), size) for x in images]
        )
        images = images[:, 0]
    return ImageSet(images[:, None], labels, [str(i) for i in range(10)])


def _find(folder: Path, stem: str) -> Path:
    """The IDX file named like ``stem`` directly in ``folder`` (really there: links followed)."""
    hits = [
        p
        for p, reason in files_under(folder)
        if reason is None and p.parent == Path(folder).resolve()
        if stem in p.name and "idx" in p.name
    ]
    if not hits:
        raise FileNotFoundError(f"No IDX file with '{stem}' in {folder}")
    return hits[0]


def _read_idx(path: Path, folder: Path) -> np.ndarray:
    with open_inside(path, folder) as fh:
        raw = fh.read()
    raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
    _, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if dtype_code != 0x08:
        raise ValueError(f"{path.name}: only unsigned-byte IDX files are supported")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_folder(folder: str | Path, size: int = 32, grayscale: bool = False) -> ImageSet:
    """A folder of images; subfolders are class labels, ``captions.jsonl`` optional.

    ``captions.jsonl`` holds lines ``{"file": "cats/1.png", "caption": "a cat"}`` (several
    lines per file allowed). Images are center-cropped to a square and resized to ``size``.
    """
    folder = Path(folder).resolve()
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    files, skipped, captions_path = [], [], None
    for path, reason in files_under(folder):
        if reason is not None:
            log.warning("image data: skipped %s in %s: %s", path, folder, reason)
            skipped.append(f"{path.as_posix()}: {reason}")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        elif path == folder / "captions.jsonl":
            captions_path = path
    if not files:
        raise ValueError(f"No PNG, JPEG or WebP images under {folder}")
    classes = sorted({p.parent.relative_to(folder).as_posix() for p in files})
    captions_by_file: dict[str, list[str]] = {}
    if captions_path is not None:
        with open_inside(captions_path, folder) as fh:
            lines = fh.read().decode("utf-8").splitlines()
        for line in lines:
            if line.strip():
                row = json.loads(line)
                captions_by_file.setdefault(row["file"], []).append(str(row["caption"]))
    mode = "L" if grayscale else "RGB"
    images, labels, captions = [], [], []
    for path in files:
        with open_inside(path, folder) as fh, Image.open(fh) as img:
            images.append(_resize(img.convert(mode), size))
        labels.append(classes.index(path.parent.relative_to(folder).as_posix()))
        captions.append(captions_by_file.get(path.relative_to(folder).as_posix(), []))
    has_captions = any(captions)
    return ImageSet(
        np.stack(images),
        np.array(labels, np.int64),
        classes,
        captions if has_captions else [],
        skipped[:100],
    )


def _resize(img: Image.Image, size: int) -> np.ndarray:
    """Center-crop to a square, resize, and return (C, H, W) floats in [0, 1]."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def load_dataset(spec: str, size: int | None = None) -> ImageSet:
    """``digits`` (built in), ``mnist:/path/to/folder`` or a folder path."""
    if spec == "digits":
        return load_digits()
    if spec.startswith("mnist:"):
        return load_mnist(spec.removeprefix("mnist:"), size=size or 28)
    return load_folder(spec, size=size or 32)


def augment(batch: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Random shifts of up to ``max_shift`` pixels (zero-filled): cheap, label-preserving."""
    out = np.zeros_like(batch)
    for i, img in enumerate(batch):
        dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)
        out[i] = np.roll(img, (dy, dx), axis=(1, 2))
    return out


def digit_captions(label: int) -> list[str]:
    """Training captions for a digit, English and Chinese, in several phrasings.

    The phrasings our evaluations use ("a handwritten 3", "手写数字三", the zero-shot templates)
    are deliberately absent, so they measure generalisation, not recall.
    """
    en, zh = DIGIT_NAMES_EN[label], DIGIT_NAMES_ZH[label]
    return [
        f"a handwritten {en}",
        f"a picture of the digit {label}",
        f"the number {en}",
        f"digit {label}",
        f"handwritten number {label}",
        f"手写的{zh}",
        f"数字{label}",
        f"一个手写的{zh}",
        f"数字{zh}的图片",
        f"写着{zh}的图",
    ]


def label_captions(label: int) -> tuple[str, str]:
    """The caption a captioner should produce for a digit: English and Chinese."""
    return f"a handwritten {DIGIT_NAMES_EN[label]}", f"手写数字{DIGIT_NAMES_ZH[label]}"
