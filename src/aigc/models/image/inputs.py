"""Images a caller sends (chat's ``image_url`` parts): bytes checked into a ``ChatImage``, and a
``ChatImage`` as the pixels a local model reads.

What an image *is* comes from its bytes (Pillow reads the header), never from what the caller
or a web server declared. Accepted: PNG, JPEG, WebP and single-frame GIF, as OpenAI's vision
models accept them. The pixel count is checked from the header before anything is decoded, so
a small file that inflates to a huge bitmap (a decompression bomb) is refused unread.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Literal

import numpy as np
from PIL import Image

from aigc.errors import InvalidRequest, problem_detail
from aigc.infra import untrusted
from aigc.models.protocols import ChatImage

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
FORMAT_NAMES = "PNG, JPEG, WebP or GIF"
# data:[<media type>][;param=value]*;base64,<data> (RFC 2397; only base64 carries binary)
_DATA_URL = re.compile(r"data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)", re.DOTALL)


class ImageRejected(ValueError):
    """The bytes or the data URL are not an image we take; the message says why, completing
    "The image at <where> ...", ``code`` says it in one word (OpenAI's codes), and ``kind``
    with ``values`` says which rule refused it (for a client to say in its own language)."""

    def __init__(
        self,
        message: str,
        code: str = "invalid_image",
        kind: str = "image_damaged",
        **values: str | int,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.values = values

    def refusal(self, message: str, param: str, place: str) -> InvalidRequest:
        """The 400 saying ``message`` (which names the image at ``place``), with this rule's
        kind and values beside it (x-error-details)."""
        ctx = {**self.values, "place": place}
        detail = problem_detail(param, {"type": self.kind, "ctx": ctx, "msg": message})
        return InvalidRequest(message, param=param, code=self.code, details=[detail])


class ImageTooLarge(ImageRejected):
    """More bytes than the limit (checked before decoding where the length tells)."""


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def data_url_bytes(url: str, max_bytes: int) -> bytes:
    """The bytes of a base64 ``data:image/...`` URL; refused when larger than ``max_bytes``
    (judged from the text's length before anything is decoded)."""
    match = _DATA_URL.fullmatch(url[:5].lower() + url[5:])
    if match is None:
        raise ImageRejected(
            "is not a valid data URL (data:image/png;base64,...)",
            "invalid_image_url",
            "data_url_invalid",
        )
    media_type = match["type"].strip().lower()
    if not media_type.startswith("image/"):
        shown = untrusted.field(media_type, 40) or "text/plain"  # the caller's words
        raise ImageRejected(
            f"is a data URL of type '{shown}', not an image",
            "invalid_image_format",
            "data_url_not_image",
            type=shown,
        )
    if "base64" not in (p.strip().lower() for p in match["params"].split(";")):
        raise ImageRejected(
            "must be base64-encoded (data:image/...;base64,...)",
            "invalid_image_url",
            "data_url_not_base64",
        )
    text = "".join(match["data"].split())  # line breaks inside base64 are tolerated
    if len(text) // 4 * 3 > max_bytes + 2:
        raise ImageTooLarge(
            f"is larger than {max_bytes} bytes",
            "image_too_large",
            "image_bytes_over",
            max_bytes=max_bytes,
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRejected(
            "does not hold valid base64 data", "invalid_image_url", "base64_invalid"
        ) from None
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"is larger than {max_bytes} bytes",
            "image_too_large",
            "image_bytes_over",
            max_bytes=max_bytes,
        )
    return data


def checked_image(
    data: bytes, max_pixels: int, detail: Literal["auto", "low", "high"] = "auto"
) -> ChatImage:
    """``data`` as a ``ChatImage`` once it decodes as one still image of an accepted format
    with at most ``max_pixels`` pixels (judged from the header, before decoding)."""
    try:
        # only these decoders run on a caller's bytes (never e.g. EPS, which calls Ghostscript)
        img = Image.open(io.BytesIO(data), formats=list(FORMATS))  # reads the header only
    except Image.DecompressionBombError:
        raise ImageRejected(
            f"has more than {max_pixels} pixels",
            "image_too_large",
            "image_pixels_over",
            max_pixels=max_pixels,
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected(
            f"is not a {FORMAT_NAMES} image",
            "invalid_image_format",
            "image_format_unread",
            formats=FORMAT_NAMES,
        ) from None
    media_type = FORMATS[str(img.format)]
    width, height = img.size
    if width * height > max_pixels:
        raise ImageRejected(
            f"is {width}x{height} pixels; the limit is {max_pixels} pixels",
            "image_too_large",
            "image_pixels_over",
            max_pixels=max_pixels,
        )
    try:
        if getattr(img, "n_frames", 1) > 1:
            raise ImageRejected("is animated; send a single frame", kind="image_animated")
        img.load()  # the whole image decodes: no truncated or corrupt data goes on
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageRejected):
            raise
        raise ImageRejected(f"is a damaged {img.format} image", format=str(img.format)) from None
    return ChatImage(data, media_type, width, height, detail)


def data_url(image: ChatImage) -> str:
    """The image as a base64 data URL of the type its bytes are (how it is sent upstream)."""
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"


def pil_image(image: ChatImage) -> Image.Image:
    img = Image.open(io.BytesIO(image.data), formats=list(FORMATS))
    img.load()
    return img


def image_array(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """A (1, C, H, W) float array in [0, 1] at a model's native size."""
    img = img.convert("L" if channels == 1 else "RGB")
    img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))[None]
