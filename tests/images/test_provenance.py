"""Signed PNG manifests: a generated image verifies; edited metadata or one pixel fails."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image, PngImagePlugin

from aigc.models.image import provenance

KEY = provenance.signing_key(b"s" * 32)


def _signed() -> tuple[bytes, dict]:
    pixels = (np.arange(64, dtype=np.uint8).reshape(8, 8, 1) * 4).astype(np.uint8)
    return provenance.signed_image(
        pixels, KEY, model="vae-digits", tenant_id="t_a", request_id="req_1"
    )


def _rewrite(png: bytes, text: dict[str, str], pixels: np.ndarray | None = None) -> bytes:
    img = Image.open(io.BytesIO(png))
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    out = io.BytesIO()
    Image.fromarray(np.array(img) if pixels is None else pixels).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_generated_png_verifies_and_carries_the_gb45438_label() -> None:
    png, manifest = _signed()
    verdict = provenance.verify_png(png, KEY)
    assert verdict.valid, verdict.reason
    text = Image.open(io.BytesIO(png)).text
    label = json.loads(text["AIGC"])
    assert label["Label"] == "1" and label["ProduceID"] == manifest["content_id"]
    assert label["ContentProducer"] == "aigc"
    assert manifest["tenant"] == "t_a" and manifest["request_id"] == "req_1"
    assert manifest["model"] == "vae-digits"


def test_edited_metadata_fails() -> None:
    png, _ = _signed()
    text = dict(Image.open(io.BytesIO(png)).text)
    manifest = json.loads(text["aigc.manifest"])
    manifest["model"] = "gan-someone-else"
    forged = _rewrite(png, text | {"aigc.manifest": json.dumps(manifest)})
    verdict = provenance.verify_png(forged, KEY)
    assert not verdict.valid and "signature" in verdict.reason
    label = json.loads(text["AIGC"]) | {"Label": "0"}
    relabelled = _rewrite(png, text | {"AIGC": json.dumps(label)})
    assert not provenance.verify_png(relabelled, KEY).valid


def test_one_changed_pixel_fails() -> None:
    png, _ = _signed()
    img = Image.open(io.BytesIO(png))
    pixels = np.array(img)
    pixels[3, 5] ^= 1
    verdict = provenance.verify_png(_rewrite(png, dict(img.text), pixels), KEY)
    assert not verdict.valid and "pixels" in verdict.reason


def test_unsigned_or_foreign_images_fail() -> None:
    png, _ = _signed()
    assert not provenance.verify_png(png, provenance.signing_key(b"other" * 8)).valid
    plain = io.BytesIO()
    Image.new("L", (8, 8)).save(plain, "PNG")
    assert provenance.verify_png(plain.getvalue(), KEY).reason == "no provenance manifest"
    assert not provenance.verify_png(b"not an image", KEY).valid


def test_visible_label_is_drawn_and_signed() -> None:
    pixels = np.full((8, 8, 1), 40, dtype=np.uint8)
    png, manifest = provenance.signed_image(
        pixels, KEY, model="gan-x", tenant_id="t", request_id="r", visible_label=True
    )
    img = Image.open(io.BytesIO(png))
    assert img.width == 32 and img.height == 32 + 12  # enlarged, band below
    band = np.array(img)[32:]
    assert band.min() < 64 and band.max() == 255  # dark label text on a white band
    assert manifest["visible_label"] and provenance.verify_png(png, KEY).valid
