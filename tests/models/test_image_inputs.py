"""Images a caller sends in chat: what the bytes are decides, within pixel and byte limits;
and each image counts as OpenAI bills it."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from aigc.models.image.inputs import (
    ImageRejected,
    ImageTooLarge,
    checked_image,
    data_url,
    data_url_bytes,
    pil_image,
)
from aigc.models.tokens import image_tokens


def encoded(fmt: str, size: tuple[int, int] = (8, 8), **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, fmt, **save)
    return buf.getvalue()


def test_the_bytes_say_what_an_image_is_not_the_data_url() -> None:
    jpeg = encoded("JPEG", (30, 20))
    declared_png = "data:image/png;base64," + base64.b64encode(jpeg).decode()
    image = checked_image(data_url_bytes(declared_png, 10_000), 10_000, "low")
    assert (image.media_type, image.width, image.height, image.detail) == (
        "image/jpeg",
        30,
        20,
        "low",
    )
    assert data_url(image).startswith("data:image/jpeg;base64,")  # sent on as what it is
    assert pil_image(image).size == (30, 20)


def noise_png(side: int) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_the_four_formats_are_taken(fmt: str) -> None:
    assert checked_image(encoded(fmt), 64).media_type == f"image/{fmt.lower()}"


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("data:image/png,rawbytes", "invalid_image_url", "base64"),
        ("data:text/html;base64,PGI+", "invalid_image_format", "text/html"),
        ("data:;base64,aGk=", "invalid_image_format", "text/plain"),
        ("data:image/png;base64,not*base64", "invalid_image_url", "base64"),
        ("data:image/png;base64", "invalid_image_url", "data URL"),
    ],
)
def test_data_urls_that_are_refused(url: str, code: str, words: str) -> None:
    with pytest.raises(ImageRejected) as refused:
        data_url_bytes(url, 1000)
    assert refused.value.code == code and words in str(refused.value)


def test_a_data_url_over_the_byte_limit_is_refused_by_its_length() -> None:
    url = "data:image/png;base64," + "A" * 4000  # 3,000 bytes once decoded
    with pytest.raises(ImageTooLarge):
        data_url_bytes(url, 2999)
    assert len(data_url_bytes(url, 3000)) == 3000


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (encoded("BMP"), "invalid_image_format", "PNG, JPEG, WebP or GIF"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "invalid_image_format", "PNG"),  # never Ghostscript
        (noise_png(30)[:1000], "invalid_image", "damaged PNG"),  # cut short
        (encoded("PNG", (100, 11)), "image_too_large", "100x11"),
    ],
)
def test_bytes_that_are_refused(data: bytes, code: str, words: str) -> None:
    with pytest.raises(ImageRejected) as refused:
        checked_image(data, 1000)
    assert refused.value.code == code and words in str(refused.value)


def test_an_animated_image_is_refused() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageRejected, match="animated"):
        checked_image(buf.getvalue(), 1000)


def test_an_image_never_shows_its_bytes() -> None:
    image = checked_image(encoded("PNG"), 64)
    assert "data" not in repr(image) and str(image.data[:8]) not in repr(image)


def test_image_tokens_follow_openais_published_examples() -> None:
    assert image_tokens(2048, 4096, "high") == 1105  # 768×1536: six 512-px tiles
    assert image_tokens(4096, 8192, "low") == 85  # low detail: the base alone
    assert image_tokens(1024, 1024, "auto") == 765  # 768×768: four tiles
    assert image_tokens(8, 8) == image_tokens(512, 512) == 255  # never scaled up: one tile
