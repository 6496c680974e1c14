"""An uploaded image and its mask, checked as OpenAI's edits and variations take them.

What an image is comes from its bytes (``models/image/inputs.py``: PNG, JPEG, WebP or a
single-frame GIF, the pixel count read from the header first). OpenAI's rules on top: the
image square (dall-e-2's; the models here make square images), the mask a PNG with an alpha
channel of the image's size, and the area to edit the mask's fully transparent pixels, or
without a mask the image's own. Each refusal is a 400 naming the field.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aigc.errors import refused_value
from aigc.gateway.image_forms import Upload
from aigc.models.image import inputs


def uploaded_image(upload: Upload, max_pixels: int) -> Image.Image:
    """An uploaded file as a decoded still image, or a 400 naming its part."""
    try:
        checked = inputs.checked_image(upload.data, max_pixels)
        return inputs.pil_image(checked)
    except inputs.ImageRejected as exc:
        raise exc.refusal(f"The file '{upload.param}' {exc}", upload.param, upload.param) from None


def square_image(upload: Upload, max_pixels: int) -> Image.Image:
    img = uploaded_image(upload, max_pixels)
    if img.width != img.height:
        raise refused_value(
            "image_not_square",
            "The image '{place}' is {width}x{height}; it must be square (the models here make "
            "square images)",
            param=upload.param,
            code="invalid_image",
            place=upload.param,
            width=img.width,
            height=img.height,
        )
    return img


def has_alpha(img: Image.Image) -> bool:
    return "A" in img.getbands() or "transparency" in img.info


def alpha_of(img: Image.Image) -> np.ndarray:
    """(H, W) bytes: 0 where fully transparent (an image without transparency: all 255)."""
    if not has_alpha(img):
        return np.full((img.height, img.width), 255, dtype=np.uint8)
    return np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.uint8)


def edit_alpha(image: Image.Image, mask: Upload | None, max_pixels: int) -> np.ndarray:
    """Where to edit, as OpenAI reads it: the mask's fully transparent pixels, or without a
    mask the image's own; a 400 naming ``mask`` when the mask is no PNG with alpha, differs
    in size from the image, or nothing at all is transparent."""
    if mask is None:
        alpha = alpha_of(image)
        if not (alpha == 0).any():
            raise refused_value(
                "mask_needed",
                "Give a 'mask' (a PNG whose transparent pixels mark the area to edit), or an "
                "image with fully transparent pixels there",
                param="mask",
                code="missing_required_parameter",
            )
        return alpha
    img = uploaded_image(mask, max_pixels)
    if img.format != "PNG" or not has_alpha(img):
        raise refused_value(
            "mask_not_png_with_alpha",
            "The mask must be a PNG with an alpha channel (transparent where to edit)",
            param="mask",
            code="invalid_image_format",
        )
    if img.size != image.size:
        raise refused_value(
            "mask_size_differs",
            "The mask is {width}x{height} and the image {image_width}x{image_height}; they must "
            "be the same size",
            param="mask",
            code="invalid_image",
            width=img.width,
            height=img.height,
            image_width=image.width,
            image_height=image.height,
        )
    alpha = alpha_of(img)
    if not (alpha == 0).any():
        raise refused_value(
            "mask_nothing_to_edit",
            "The mask has no fully transparent pixel: there is nothing to edit",
            param="mask",
        )
    return alpha
