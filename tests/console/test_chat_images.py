"""Images attached on the Chat page: checked as the gateway checks them, fitted into one
request's limits, and kept as previews small enough for a stored message's meta."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from aigc.config import Settings
from aigc.console.pages.chat_images import (
    PER_MESSAGE,
    THUMB_MAX_BYTES,
    AttachmentRefused,
    ImageLimits,
    fitted,
    message_content,
    previews,
    read_attachment,
    stored_images,
)
from aigc.gateway.conversations import MAX_META_BYTES

LIMITS = ImageLimits(count=3, bytes=1_000_000, pixels=1_000_000)


def _encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _noise(side: int) -> bytes:
    """A photo that compresses as badly as one can: random pixels."""
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return _encoded(Image.fromarray(pixels), "PNG")


def test_the_limits_follow_the_gateways_and_leave_room_in_the_body() -> None:
    settings = Settings()
    limits = ImageLimits.of(settings)
    assert limits.count == settings.max_images
    assert limits.pixels == settings.max_image_pixels
    assert 0 < limits.bytes <= settings.max_image_bytes
    # base64 of that many bytes, with the text's room, fits the body the gateway takes
    assert limits.bytes * 4 // 3 < settings.max_body_bytes
    small_body = Settings(max_body_bytes=2_000_000, max_image_bytes=20_000_000)
    assert ImageLimits.of(small_body).bytes * 4 // 3 < 2_000_000


def test_a_file_is_judged_by_its_bytes_not_its_name() -> None:
    with pytest.raises(AttachmentRefused) as refused:
        read_attachment("photo.png", b"%PDF-1.7 not an image", LIMITS)
    assert (refused.value.key, refused.value.values) == ("chat.attach.type", {"name": "photo.png"})
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    gif = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(AttachmentRefused) as refused:
        read_attachment("动图.gif", gif, LIMITS)
    assert refused.value.key == "chat.attach.animated"
    wide = _encoded(Image.new("RGB", (2000, 600)), "PNG")
    with pytest.raises(AttachmentRefused) as refused:
        read_attachment("wide.png", wide, LIMITS)
    assert refused.value.key == "chat.attach.pixels"
    with pytest.raises(AttachmentRefused) as refused:
        read_attachment("big.png", _noise(700), LIMITS)
    assert refused.value.key == "chat.attach.too_large"
    jpeg = _encoded(Image.new("RGB", (30, 20), (9, 9, 9)), "JPEG")
    attachment = read_attachment("a.jpeg", jpeg, LIMITS)
    assert attachment.image.media_type == "image/jpeg"
    assert attachment.url.startswith("data:image/jpeg;base64,")


def test_previews_of_a_full_message_fit_a_stored_message() -> None:
    big = ImageLimits(count=16, bytes=10_000_000, pixels=4096 * 4096)
    noisy = read_attachment("noise.png", _noise(1500), big)
    assert len(noisy.thumb) * 3 // 4 <= THUMB_MAX_BYTES + 2
    meta = {"images": stored_images([noisy] * PER_MESSAGE)}
    assert len(json.dumps(meta, ensure_ascii=False)) < MAX_META_BYTES
    assert big.per_message == PER_MESSAGE


def test_the_content_is_openais_parts_only_with_images() -> None:
    jpeg = _encoded(Image.new("RGB", (4, 4)), "JPEG")
    attachment = read_attachment("a.jpg", jpeg, LIMITS)
    assert message_content("hi", []) == "hi"
    assert message_content("hi", [attachment]) == [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": attachment.url}},
    ]
    assert message_content("", [attachment]) == [
        {"type": "image_url", "image_url": {"url": attachment.url}}
    ]


def _with_images(text: str, n: int, size: int = 400) -> dict[str, object]:
    url = "data:image/png;base64," + "A" * size
    parts = [{"type": "text", "text": text}] if text else []
    return {
        "role": "user",
        "content": parts + [{"type": "image_url", "image_url": {"url": url}}] * n,
    }


def test_history_keeps_the_newest_images_the_request_can_carry() -> None:
    history = [
        _with_images("old", 2),
        {"role": "assistant", "content": "two"},
        _with_images("", 1),  # images alone
        {"role": "assistant", "content": "one"},
        _with_images("new", 2),
    ]
    sent = fitted(history, LIMITS, takes_images=True)
    kinds = [
        [p["type"] for p in m["content"]] if isinstance(m["content"], list) else m["content"]
        for m in sent
    ]
    # 3 images at most: the newest message's two, the one before; the oldest says its text
    assert kinds == ["old", "two", ["image_url"], "one", ["text", "image_url", "image_url"]]
    by_bytes = fitted(history, ImageLimits(count=9, bytes=700, pixels=1), takes_images=True)
    assert sum(isinstance(m["content"], list) for m in by_bytes) == 1  # two of 300 bytes
    blind = fitted(history, LIMITS, takes_images=False)
    assert [m["content"] for m in blind] == ["old", "two", "one", "new"]  # image-only: gone


def test_a_stored_preview_is_shown_only_as_an_image_data_url() -> None:
    good = "data:image/webp;base64,UklGRg=="
    meta = {
        "images": [
            {"name": "ok.png", "thumb": good},
            {"name": "svg", "thumb": "data:image/svg+xml;base64,PHN2Zz4="},
            {"name": "js", "thumb": "javascript:alert(1)"},
            {"name": "x", "thumb": good + '" onerror="alert(1)'},
            "not a dict",
            {"name": 5, "thumb": good},
        ]
    }
    assert [(p.name, p.thumb) for p in previews(meta)] == [("ok.png", good), ("", good)]
    assert previews({"images": "nope"}) == [] and previews({}) == []
