"""Console: images attached to a chat message — checked, sent as OpenAI ``image_url`` parts,
kept as small previews.

What the console sends is what any API client sends: the message's ``content`` as a list of a
``text`` part and ``image_url`` parts holding base64 data URLs, through
``/v1/chat/completions``; the gateway checks them again (``gateway/vision.py``). Checking here
first, against the same limits, lets the page say what is wrong with a file before anything is
sent.

What is kept: a conversation message holds its text and a JSON ``meta`` of at most
``MAX_META_BYTES`` (``gateway/conversations.py``), so a stored user message keeps a preview of
each image (a WebP of at most ``THUMB_SIDE`` pixels a side and ``THUMB_MAX_BYTES`` bytes), its
name and size, never the original. A reopened conversation shows the previews; the model sees an
image only in the page where it was attached (an earlier turn's images are sent again with
later turns while the request's limits allow, newest first).
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

from aigc.config import Settings
from aigc.models.image.inputs import FORMATS, ImageRejected, checked_image, data_url, pil_image
from aigc.models.protocols import ChatImage

ACCEPT = ",".join(FORMATS.values())  # the file picker's filter: image/png, image/jpeg, ...
PER_MESSAGE = 8  # images attached to one message: their previews fit a stored message's meta
THUMB_SIDE = 128
THUMB_MAX_BYTES = 4_500  # 8 previews in base64 stay well under the 64 000 bytes of a meta
BODY_ROOM = 256 * 1024  # of the request body, kept for the text when images are counted
MAX_NAME = 200
_THUMB = re.compile(r"data:image/(?:webp|png|jpeg|gif);base64,[A-Za-z0-9+/]+={0,2}")


@dataclass(frozen=True)
class ImageLimits:
    """What the gateway takes in one chat request, as the console checks it before sending."""

    count: int  # images in all the messages of a request (``max_images``)
    bytes: int  # their bytes together: ``max_image_bytes``, and what base64 leaves of the body
    pixels: int  # of one image (``max_image_pixels``)

    @classmethod
    def of(cls, settings: Settings) -> ImageLimits:
        """A data URL is 4/3 of its image, and the whole body is capped (``max_body_bytes``,
        a 413): the images of one request get what of the body is left beyond the text."""
        room = max(0, settings.max_body_bytes - BODY_ROOM) * 3 // 4
        return cls(
            settings.max_images, min(settings.max_image_bytes, room), settings.max_image_pixels
        )

    @property
    def per_message(self) -> int:
        return min(self.count, PER_MESSAGE)


class AttachmentRefused(ValueError):
    """A file the page will not attach: ``key`` is its sentence in the translation table."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class Attachment:
    """One checked image waiting to be sent (or sent in this page), with its preview."""

    name: str
    image: ChatImage
    thumb: str  # a data URL of the preview

    @property
    def url(self) -> str:
        return data_url(self.image)


@dataclass(frozen=True)
class Preview:
    """A stored image as a reopened conversation shows it."""

    name: str
    thumb: str


def megabytes(n: int) -> str:
    """``n`` bytes as people read a file's size ("6.2 MB")."""
    return f"{n / 1_000_000:.1f} MB"


def read_attachment(name: str, data: bytes, limits: ImageLimits) -> Attachment:
    """``data`` checked as the gateway will check it (a still PNG, JPEG, WebP or GIF, told by
    its bytes, within the limits), with its preview. Blocking: Pillow decodes it."""
    name = name[:MAX_NAME]
    if len(data) > limits.bytes:
        raise AttachmentRefused("chat.attach.too_large", name=name, limit=megabytes(limits.bytes))
    try:
        image = checked_image(data, limits.pixels)
    except ImageRejected as exc:
        if exc.code == "invalid_image_format":
            raise AttachmentRefused("chat.attach.type", name=name) from None
        if exc.code == "image_too_large":
            raise AttachmentRefused("chat.attach.pixels", name=name) from None
        if str(exc).startswith("is animated"):
            raise AttachmentRefused("chat.attach.animated", name=name) from None
        raise AttachmentRefused("chat.attach.damaged", name=name) from None
    return Attachment(name, image, thumbnail(image))


def thumbnail(image: ChatImage) -> str:
    """A WebP preview of at most ``THUMB_SIDE`` pixels a side, made smaller until it fits
    ``THUMB_MAX_BYTES`` (a noisy photo compresses badly), as a data URL."""
    source = pil_image(image)
    source = source.convert(
        "RGBA" if "A" in source.getbands() or "transparency" in source.info else "RGB"
    )
    encoded = b""
    for side, quality in ((THUMB_SIDE, 70), (96, 50), (64, 35), (48, 20)):
        small = source.copy()
        small.thumbnail((side, side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.save(buffer, "WEBP", quality=quality)
        encoded = buffer.getvalue()
        if len(encoded) <= THUMB_MAX_BYTES:
            break
    return "data:image/webp;base64," + base64.b64encode(encoded).decode()


def message_content(text: str, attachments: list[Attachment]) -> str | list[dict[str, Any]]:
    """A user message's ``content``: its text, or OpenAI's parts when images come with it."""
    if not attachments:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts += [{"type": "image_url", "image_url": {"url": a.url}} for a in attachments]
    return parts


def fitted(
    history: list[dict[str, Any]], limits: ImageLimits, takes_images: bool
) -> list[dict[str, Any]]:
    """``history`` as one request may carry it: image parts kept newest first while the
    request's count and bytes allow (none for a model that does not read images); a message
    left with text alone says it as a string, and one left with nothing is dropped."""
    count = size = 0
    out: list[dict[str, Any]] = []
    for message in reversed(history):
        content = message["content"]
        if isinstance(content, str):
            out.append(message)
            continue
        kept = []
        for part in content:
            if part["type"] == "image_url":
                weight = len(part["image_url"]["url"]) * 3 // 4
                if not takes_images or count + 1 > limits.count or size + weight > limits.bytes:
                    continue
                count, size = count + 1, size + weight
            kept.append(part)
        if any(p["type"] == "image_url" for p in kept):
            out.append(message | {"content": kept})
        elif kept:
            out.append(message | {"content": "".join(p["text"] for p in kept)})
    return out[::-1]


def stored_images(attachments: list[Attachment]) -> list[dict[str, Any]]:
    """What a stored user message keeps of its images (its ``meta["images"]``)."""
    return [
        {
            "name": a.name,
            "type": a.image.media_type,
            "width": a.image.width,
            "height": a.image.height,
            "thumb": a.thumb,
        }
        for a in attachments
    ]


def previews(meta: dict[str, Any]) -> list[Preview]:
    """The previews of a stored message. Its meta is the owner's to write through the API, so
    only a base64 image data URL is taken as a preview's source; anything else is left out."""
    found = meta.get("images")
    if not isinstance(found, list):
        return []
    shown = []
    for item in found:
        if not isinstance(item, dict):
            continue
        thumb, name = item.get("thumb"), item.get("name")
        if isinstance(thumb, str) and _THUMB.fullmatch(thumb):
            shown.append(Preview(name[:MAX_NAME] if isinstance(name, str) else "", thumb))
    return shown
