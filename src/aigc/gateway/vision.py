"""Images in chat: the ``image_url`` content parts of a request, as the pipeline takes them.

    parts = image_parts(body, max_images)        # while validating: found, counted, no I/O
    refuse_unreadable(model, name, parts, chat)   # after resolving: 400 for a text-only model
    images = load_images(parts, settings)         # a worker thread: decode or fetch, check
    requests = attach(requests, parts, images)    # each message gets its own images

Only a model that reads images (``takes_images``) gets them loaded, so a text-only model's
400 costs no fetch. A data URL is decoded; an http(s) URL is fetched through ``infra.fetch``
(public addresses only, unless the operator opened networks with
``image_fetch_allow_networks``), and a fetched image is sent on as bytes, never as its URL.
All images of a request share one byte budget (``max_image_bytes``) and their fetches one
deadline (``image_fetch_timeout_s``); each is checked to be a
still PNG, JPEG, WebP or GIF of at most ``max_image_pixels`` (``models/image/inputs.py``).
Every refusal is a 400 naming the part.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from aigc.config import Settings
from aigc.errors import InvalidRequest, refused_value
from aigc.gateway.schemas import ChatCompletionRequest, SamplingFields
from aigc.infra import untrusted
from aigc.infra.fetch import FetchRefused, FetchTooLarge, fetch_bytes
from aigc.models.image.inputs import (
    ImageRejected,
    ImageTooLarge,
    checked_image,
    data_url_bytes,
    is_data_url,
)
from aigc.models.protocols import ChatImage, TextModel, TextRequest


@dataclass(frozen=True)
class ImagePart:
    """Where an image part sits in the body and what it asks for."""

    message: int  # index in ``messages``
    part: int  # index in that message's ``content``
    url: str = ""
    detail: Literal["auto", "low", "high"] = "auto"

    @property
    def param(self) -> str:
        return f"messages[{self.message}].content[{self.part}]"


def image_parts(body: SamplingFields, max_images: int) -> list[ImagePart]:
    """Every image part of a chat body, in order: only in user messages (as OpenAI takes
    them), each with its ``image_url``, at most ``max_images`` in all."""
    if not isinstance(body, ChatCompletionRequest):
        return []
    found = []
    for i, message in enumerate(body.messages):
        if not isinstance(message.content, list):
            continue
        for j, content in enumerate(message.content):
            if content.type != "image_url":
                continue
            part = ImagePart(i, j)
            if message.role != "user":
                raise refused_value(
                    "images_in_user_messages_only",
                    "Images are taken in user messages only, not in a {role} message",
                    param=part.param,
                    code="unsupported_content",
                    role=message.role,
                )
            if content.image_url is None:
                raise InvalidRequest(
                    "An image_url part needs its 'image_url' object, with a 'url'",
                    param=f"{part.param}.image_url",
                    code="missing_required_parameter",
                )
            found.append(replace(part, url=content.image_url.url, detail=content.image_url.detail))
    if len(found) > max_images:
        raise refused_value(
            "too_many_images",
            "Invalid 'messages': too many images. Expected at most {max_length} images in "
            "all, but got {count} instead.",
            param="messages",
            code="array_above_max_length",
            max_length=max_images,
            count=len(found),
        )
    return found


def refuse_unreadable(model: TextModel, name: str, parts: list[ImagePart], chat: bool) -> None:
    """A 400 naming the model and the part when it does not read images; and one when it
    answers only about images and got none."""
    shown = untrusted.field(name)
    if parts and not model.takes_images:
        raise refused_value(
            "model_reads_no_images",
            "The model '{model}' does not read images; remove the image_url part at {place}, "
            "or choose a model whose capabilities include 'vision'",
            param=parts[0].param,
            code="unsupported_content",
            model=str(shown),
            place=parts[0].param,
        )
    if not parts and model.needs_images:
        where = "a user message" if chat else "a chat request (/v1/chat/completions)"
        raise InvalidRequest(
            f"The model '{shown}' answers about images only; send one as an image_url part "
            f"of {where}",
            param="messages" if chat else "model",
            code="image_required",
        )


def load_images(parts: list[ImagePart], settings: Settings) -> list[ChatImage]:
    """Each part's image, checked, in order (blocking: run it in a worker thread). The fetches
    of one request share one deadline, as its images share one byte budget."""
    budget = settings.max_image_bytes
    deadline = time.monotonic() + settings.image_fetch_timeout_s
    images = []
    for part in parts:
        data = _image_bytes(part, budget, deadline, settings)
        budget -= len(data)
        try:
            images.append(checked_image(data, settings.max_image_pixels, part.detail))
        except ImageRejected as exc:
            raise exc.refusal(
                f"The image at {part.param} {exc}", f"{part.param}.image_url", part.param
            ) from None
    return images


def _image_bytes(part: ImagePart, budget: int, deadline: float, settings: Settings) -> bytes:
    param = f"{part.param}.image_url.url"
    too_large = InvalidRequest(
        f"The images of this request are larger than {settings.max_image_bytes} bytes in all "
        f"(the image at {part.param} goes beyond it)",
        param=param,
        code="image_too_large",
    )
    if is_data_url(part.url):
        try:
            return data_url_bytes(part.url, budget)
        except ImageTooLarge:
            raise too_large from None
        except ImageRejected as exc:
            raise exc.refusal(f"The image at {part.param} {exc}", param, part.param) from None
    try:  # brackets around no IPv6 address raise
        scheme = urlsplit(part.url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        raise refused_value(
            "image_url_scheme",
            "The image at {place} must be a base64 data URL or an http(s) URL",
            param=param,
            code="invalid_image_url",
            place=part.param,
        )
    left = deadline - time.monotonic()
    if left <= 0:
        raise refused_value(
            "image_fetch_timeout",
            "The image at {place} was not fetched: fetching the images of this request "
            "took longer than {seconds} s in all",
            param=param,
            code="invalid_image_url",
            place=part.param,
            seconds=f"{settings.image_fetch_timeout_s:g}",
        )
    try:
        return fetch_bytes(
            part.url,
            budget,
            left,
            settings.image_fetch_allow_networks,
            user_agent="aigc-vision/1",
        ).data
    except FetchTooLarge:
        raise too_large from None
    except FetchRefused as exc:
        raise refused_value(
            "image_fetch_failed",
            "The image at {place} could not be fetched: {reason}",
            param=param,
            code="invalid_image_url",
            place=part.param,
            reason=str(exc),
        ) from None


def attach(
    requests: list[TextRequest], parts: list[ImagePart], images: list[ChatImage]
) -> list[TextRequest]:
    """The requests with each message carrying its own images, in the order they came."""
    if not parts:
        return requests
    by_message: dict[int, list[ChatImage]] = {}
    for part, image in zip(parts, images, strict=True):
        by_message.setdefault(part.message, []).append(image)
    out = []
    for request in requests:
        assert request.messages is not None  # images come with chat requests only
        messages = [
            replace(m, images=tuple(by_message.get(i, ()))) for i, m in enumerate(request.messages)
        ]
        out.append(replace(request, messages=messages))
    return out
