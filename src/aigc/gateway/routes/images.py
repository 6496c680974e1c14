"""Image endpoints: OpenAI's /v1/images/generations, latent extensions, captions, embeddings,
provenance verification and the expiring download links of generated images.

Every generated image (PNG, JPEG or WebP) is signed (``models/image/provenance.py``). Limits
count an image as ``IMAGE_TOKENS`` tokens (plus the prompt at ~4 bytes a token), reserved
before generating and settled after, so images share the tenant's token budget with text.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import re
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from starlette.concurrency import run_in_threadpool

from aigc.access import Principal, require_role
from aigc.errors import InvalidRequest, NotFound, refused, refused_value
from aigc.gateway import guarding, image_forms, pipeline
from aigc.gateway.context import RequestRecord
from aigc.gateway.deps import principal, record, services
from aigc.gateway.fields import Percent, Seed
from aigc.gateway.image_forms import FileField, Upload
from aigc.gateway.image_uploads import edit_alpha, square_image
from aigc.gateway.limits import Reservation
from aigc.gateway.openapi import content, errors
from aigc.gateway.schemas import used_field
from aigc.gateway.services import Services
from aigc.infra import untrusted
from aigc.infra.storage import BlobNotFound, BlobStore
from aigc.models.image import inputs, provenance
from aigc.models.image.inputs import image_array
from aigc.models.image.sampling import class_index
from aigc.models.protocols import ImageModel, ImageRequest, TextRequest

router = APIRouter(tags=["images"])

IMAGE_TOKENS = 256  # what one generated image counts against token limits and budgets
# How a request over its key's tokens-per-minute limit can need fewer (it has no max_tokens).
IMAGE_ADVICE = (
    f"It counts the text (about 4 bytes a token) and {IMAGE_TOKENS} tokens an image: ask for "
    "fewer images per request, or send less text."
)
LINK_TTL_S = 3600
MAX_IMAGES = 10
_SIZE = re.compile(r"^(\d{1,4})x(\d{1,4})$")
_CONTENT_ID = re.compile(r"^img_[0-9a-f]{24}$")
# Base64 as ``b64decode(..., validate=True)`` takes it (padded), after an optional data: URL head.
BASE64 = r"^(data:[^,]*,)?([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# What a route that runs an image model answers besides its result.
IMAGE_ERRORS = errors(400, 401, 403, 404, 413, 429, 503)


# parse_size checks it, naming the sizes the model offers.
SIZE: dict[str, JsonValue] = {"pattern": r"^(\d{1,4}x\d{1,4}|auto)$"}


def image_field(description: str, default: Any = ...) -> Any:
    """A base64 image field: the schema shows the encoding; decode_image checks it (its 400
    says what is wrong, and it also refuses base64 that is no image)."""
    return Field(
        default,
        description=description,
        json_schema_extra={
            "pattern": BASE64,
            "contentEncoding": "base64",
            "contentMediaType": "image/*",
        },
    )


# --- request bodies ------------------------------------------------------------------------


class OutputOptions(BaseModel):
    """What generations and edits share beyond OpenAI's dall-e-2 fields: the encoding, and the
    fields of the GPT image models this server takes only in the values that mean "not used"."""

    output_format: Literal["png", "jpeg", "webp"] = "png"
    output_compression: Percent | None = Field(
        default=None, description="jpeg and webp: quality (default 100)"
    )
    quality: str | None = None  # accepted for SDK compatibility; one quality here
    # Not served (refuse_unsupported_image): a stream of partial images. The schema says so:
    # only the values that mean "not used".
    stream: bool | None = Field(
        default=None,
        json_schema_extra={
            "anyOf": [{"const": False}, {"type": "null"}],
            "description": "Not supported: images are not streamed",
        },
    )
    partial_images: int | None = Field(
        default=None,
        json_schema_extra={
            "anyOf": [{"const": 0}, {"type": "null"}],
            "description": "Not supported: images are not streamed",
        },
    )
    # Not served either: a transparent background (the images are opaque PNG, JPEG, WebP).
    background: str | None = Field(
        default=None,
        json_schema_extra={
            "anyOf": [{"enum": ["auto", "opaque"]}, {"type": "null"}],
            "description": "Not supported: transparent (every image is opaque)",
        },
    )


class ImageGenerationRequest(OutputOptions):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1, max_length=4000)
    n: int = Field(default=1, ge=1, le=MAX_IMAGES)
    size: str | None = Field(
        default=None,
        description="One the model offers, or auto (its native size)",
        json_schema_extra=SIZE,
    )
    response_format: Literal["url", "b64_json"] = "url"
    seed: Seed | None = None
    style: str | None = None
    user: str | None = None


class ImageVariationForm(BaseModel):
    """The text fields of /v1/images/variations (the image is a file part): OpenAI's, and
    ``seed``. Any other field is a 400 (``image_forms.read_form``)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    n: int = Field(default=1, ge=1, le=MAX_IMAGES)
    size: str | None = Field(
        default=None,
        description="One the model offers, or auto (the image's side when the model offers "
        "it, else its native side)",
        json_schema_extra=SIZE,
    )
    response_format: Literal["url", "b64_json"] = "url"
    seed: Seed | None = None
    user: str | None = None


class ImageEditForm(ImageVariationForm, OutputOptions):
    """The text fields of /v1/images/edits (image and mask are file parts)."""

    prompt: str = Field(min_length=1, max_length=4000)
    # A form's numbers are text: "80" is 80 here (a JSON body's Percent takes only numbers).
    output_compression: int | None = Field(
        default=None, ge=0, le=100, description="jpeg and webp: quality (default 100)"
    )
    # The kept pixels are always kept exactly: both fidelities are what this server does.
    input_fidelity: Literal["high", "low"] | None = None


class LatentPoint(BaseModel):
    """A point in a model's joint latent space: a class, noise from a seed, or (VAE) an image."""

    label: str
    seed: Seed | None = None
    image: str | None = image_field("base64 PNG (VAE models only)", default=None)
    weight: float = 1.0


class InterpolationRequest(BaseModel):
    model: str
    start: LatentPoint
    end: LatentPoint
    steps: int = Field(default=8, ge=2, le=32)
    size: str | None = Field(default=None, json_schema_extra=SIZE)


class ArithmeticRequest(BaseModel):
    model: str
    terms: list[LatentPoint] = Field(min_length=1, max_length=16)
    size: str | None = Field(default=None, json_schema_extra=SIZE)


class CaptionRequest(BaseModel):
    model: str
    image: str = image_field("base64 PNG/JPEG/WebP (a data: URL is accepted)")
    language: Literal["en", "zh"] = "en"


class ImageEmbeddingRequest(BaseModel):
    """Texts, images or both: at least one of the two lists, not empty."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["input"], "properties": {"input": {"type": "array"}}},
                {"required": ["images"], "properties": {"images": {"type": "array"}}},
            ]
        }
    )
    model: str
    # An empty list is taken as none (the route refuses only both empty); the schema asks
    # for at least one item where a list is given.
    input: list[str] | None = Field(default=None, max_length=256, json_schema_extra={"minItems": 1})
    images: list[Annotated[str, image_field("base64 PNG/JPEG/WebP")]] | None = Field(
        default=None, max_length=64, json_schema_extra={"minItems": 1}
    )


class ClassifyRequest(BaseModel):
    model: str
    image: str = image_field("base64 PNG/JPEG/WebP (a data: URL is accepted)")
    labels: list[str] = Field(min_length=2, max_length=100)
    template: str = Field(  # checked in the route
        default="{}", description="{} marks the label", json_schema_extra={"pattern": r"\{\}"}
    )


class VerifyRequest(BaseModel):
    image: str = image_field("base64 PNG, JPEG or WebP (a data: URL is accepted)")


# --- helpers -------------------------------------------------------------------------------


def parse_size(size: str | None, allowed: list[int]) -> int:
    """'64x64' → 64 if the model lists it; otherwise a 400 naming the sizes it does list."""
    shown = ", ".join(f"{s}x{s}" for s in allowed)
    if size is None or size == "auto":  # OpenAI's default for its newer models: the native one
        return allowed[0]
    match = _SIZE.match(size)
    if match is None or match[1] != match[2] or int(match[1]) not in allowed:
        raise refused_value(
            "image_size_not_offered",
            "size '{size}' is not offered by this model; use one of: {expected}",
            param="size",
            size=str(untrusted.field(size, 40)),
            expected=shown,
        )
    return int(match[1])


def refuse_unsupported_image(body: OutputOptions, path: str = "/v1/images/generations") -> None:
    """``stream`` and ``partial_images`` are a 400 naming them: answered with plain JSON,
    the SDK's stream read no event at all, so the caller got neither an image nor an error.
    So is a transparent ``background``, which was taken and ignored (an opaque image)."""
    streaming = {"stream": (None, False), "partial_images": (None, 0)}
    field = used_field(body.model_dump(include=set(streaming)), streaming)
    if field is not None:
        raise refused_value(
            "images_not_streamed",
            "'{name}' is not supported by {path} (images are not streamed); remove it from the "
            "request",
            param=field,
            code="unsupported_parameter",
            name=field,
            path=path,
        )
    if body.background not in (None, "auto", "opaque"):
        raise refused_value(
            "image_background_opaque",
            "background '{value}' is not supported: every image here is opaque; use 'auto' or "
            "'opaque', or leave it out",
            param="background",
            code="unsupported_parameter",
            value=str(untrusted.field(body.background)),
        )
    if body.output_compression is not None and body.output_format == "png":
        raise refused_value(
            "output_compression_not_png",
            "'output_compression' applies to output_format jpeg or webp, not png",
            param="output_compression",
            code="unsupported_parameter",
        )


def decode_image(data: str, param: str = "image") -> Image.Image:
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    try:
        raw = base64.b64decode(data, validate=True)
        img = Image.open(io.BytesIO(raw), formats=list(inputs.FORMATS))
        img.load()
        return img
    except (binascii.Error, ValueError, OSError):
        raise refused_value(
            "image_not_base64_image",
            "The image is not valid base64 {formats}",
            param=param,
            code="invalid_image",
            formats=inputs.FORMAT_NAMES,
        ) from None


def need(model: Any, attribute: str, name: str, what: str) -> None:
    if not hasattr(model, attribute):
        raise refused_value(
            "model_cannot",
            "The model '{model}' does not {what}",
            param="model",
            code="unsupported_model",
            model=str(untrusted.field(name)),
            what=what,
        )


async def open_model(
    svc: Services,
    caller: Principal,
    rec: RequestRecord,
    name: str,
    attribute: str | None = None,
    what: str = "",
) -> Any:
    """How an image route starts: a member's call, the model named for the audit, loaded, and
    (with ``attribute``) able to do what the route needs."""
    require_role(caller, "member")
    rec.model = name
    model = await svc.model(caller, name)
    if attribute is not None:
        need(model, attribute, name, what)
    return model


async def admit(
    svc: Services, caller: Principal, rec: RequestRecord, prompt: str, images: int
) -> Reservation | None:
    """The prompt (~4 bytes a token) and ``images`` × IMAGE_TOKENS, reserved against the key's
    limits by the pipeline's one admission (429 with its headers). Recorded once admitted: a
    refused request used no tokens, and the audit (the usage report, the daily budget after a
    restart) must not count it."""
    prompt_tokens, image_tokens = len(prompt.encode()) // 4 + 1, images * IMAGE_TOKENS
    reservation = await pipeline.admit(svc, caller, prompt_tokens + image_tokens, IMAGE_ADVICE)
    rec.prompt_tokens, rec.completion_tokens = prompt_tokens, image_tokens
    return reservation


async def settle(svc: Services, reservation: Reservation | None, rec: RequestRecord) -> None:
    if reservation is not None:
        await svc.limiter.settle(reservation, rec.prompt_tokens + rec.completion_tokens)


IMAGES = "images/"  # their folder in the blob store: a link made on one instance works on all


def image_key(content_id: str, output_format: str = "png") -> str:
    return f"{IMAGES}{content_id}.{output_format}"


def sweep_expired(store: BlobStore) -> None:
    """Delete stored images whose links have all expired (they are only kept for the links)."""
    cutoff = time.time() - LINK_TTL_S - 60
    for info in store.list(IMAGES):
        name = info.key.removeprefix(IMAGES)
        ours = name.startswith("img_") and name.rpartition(".")[2] in provenance.FORMATS
        if ours and info.modified < cutoff:
            store.delete(info.key)  # a missing one (another instance swept it) is no error


def deliver(
    svc: Services,
    caller: Principal,
    rec: RequestRecord,
    model: str,
    pixels: np.ndarray,
    fmt: str,
    visible_label: bool = False,
    output_format: str = "png",
    quality: int | None = None,
) -> list[dict[str, Any]]:
    """Sign each image; return it inline (b64_json) or as an expiring link (url), encoded as
    ``output_format`` (png, jpeg, webp at ``quality``)."""
    key = provenance.signing_key(svc.settings.server_secret())
    if fmt == "url":
        sweep_expired(svc.storage)
    out = []
    for one in pixels:
        data, manifest = provenance.signed_image(
            one,
            key,
            model=model,
            tenant_id=caller.tenant_id,
            request_id=rec.request_id,
            visible_label=visible_label,
            output_format=output_format,
            quality=quality,
        )
        if fmt == "b64_json":
            out.append({"b64_json": base64.b64encode(data).decode(), "revised_prompt": None})
            continue
        content_id = manifest["content_id"]
        svc.storage.put_bytes(image_key(content_id, output_format), data)
        expires = int(time.time()) + LINK_TTL_S
        link_key = provenance.signing_key(svc.settings.server_secret(), "image-links")
        sig = provenance.link_signature(link_key, content_id, expires)
        query = f"expires={expires}&signature={sig}"
        url = f"{svc.settings.base_url}/v1/images/files/{content_id}.{output_format}?{query}"
        out.append({"url": url, "revised_prompt": None})
    return out


# --- OpenAI-compatible ---------------------------------------------------------------------


async def produce(
    svc: Services,
    caller: Principal,
    rec: RequestRecord,
    response: Response,
    name: str,
    prompt: str,
    n: int,
    make: Callable[[], np.ndarray],
    labelled: bool,
    fmt: str,
    output_format: str = "png",
    quality: int | None = None,
) -> dict[str, Any]:
    """What generations, edits and variations share once the request is checked and guarded:
    admit (limits, budget: 429), make the pixels and sign and deliver them in a worker thread,
    settle, and answer with the key's rate-limit headers (the SDK reads them as chat's).
    The answer names no ``size``: OpenAI's schema of it knows only gpt-image's three sizes,
    none of which a model here makes, and leaves it out for others (as dall-e's answers do),
    so the answer stays valid under the SDK's types; the images themselves say their size."""
    reservation = await admit(svc, caller, rec, prompt, n)

    def run() -> list[dict[str, Any]]:
        return deliver(svc, caller, rec, name, make(), fmt, labelled, output_format, quality)

    try:
        data = await run_in_threadpool(run)
    except BaseException:
        rec.completion_tokens = 0
        await settle(svc, reservation, rec)
        raise
    await settle(svc, reservation, rec)
    if reservation is not None:
        response.headers.update(reservation.headers)
    return {"created": int(time.time()), "data": data, "output_format": output_format}


@router.post("/v1/images/generations", responses=IMAGE_ERRORS)
async def generate_images(
    body: ImageGenerationRequest,
    response: Response,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    refuse_unsupported_image(body)
    model = await open_model(svc, caller, rec, body.model)
    if not isinstance(model, ImageModel):
        raise refused_value(
            "model_makes_no_images",
            "The model '{model}' does not generate images",
            param="model",
            code="unsupported_model",
            model=str(untrusted.field(body.model)),
        )
    side = parse_size(body.size, model.sizes)
    # The input guard (tenant policy, PII redaction, injection): a block is a 400 here.
    guarded, guard_session = await guarding.guard_request(
        svc, caller, body.model, [TextRequest(prompt=body.prompt)], rec.guard
    )
    prompt = guarded[0].prompt or ""
    request = ImageRequest(prompt=prompt, n=body.n, size=side, seed=body.seed)
    return await produce(
        svc,
        caller,
        rec,
        response,
        body.model,
        prompt,
        body.n,
        lambda: model.generate_images(request),
        guard_session.label is not None,  # the tenant's policy wants explicit labels
        body.response_format,
        body.output_format,
        body.output_compression,
    )


# --- OpenAI-compatible: edits and variations (multipart forms) ------------------------------

IMAGE_FILE = "PNG, JPEG, WebP or GIF, square"
EDIT_FILES = [
    FileField(
        "image",
        f"The image to edit ({IMAGE_FILE}); one, sent as 'image' (the SDK sends a list as "
        "'image[]'). Without a mask, its fully transparent pixels are the area to edit",
        many=16,
    ),
    FileField(
        "mask",
        "PNG with an alpha channel, the image's size: fully transparent pixels (alpha 0) are "
        "drawn anew, the others kept",
    ),
]
VARIATION_FILES = [FileField("image", f"The image to vary ({IMAGE_FILE})")]


def the_image(uploads: list[Upload], model_name: str, max_pixels: int) -> Image.Image:
    """The one image an edit or a variation works on, square (a 400 naming ``image`` when none
    was sent, or more than one: these models work on one image at a time)."""
    if not uploads:
        raise InvalidRequest(
            "Missing required parameter: 'image'", param="image", code="missing_required_parameter"
        )
    if len(uploads) > 1:
        raise refused_value(
            "one_image_at_a_time",
            "The model '{model}' edits one image at a time; {count} were sent",
            param="image",
            model=str(untrusted.field(model_name)),
            count=len(uploads),
        )
    return square_image(uploads[0], max_pixels)


def output_side(size: str | None, image: Image.Image, sizes: list[int]) -> int:
    """``size`` as generations read it; none or auto: the image's side when the model offers
    it (so the kept pixels stay as they were), else the model's native side."""
    if size in (None, "auto") and image.width in sizes:
        return image.width
    return parse_size(size, sizes)


@router.post(
    "/v1/images/edits",
    responses=IMAGE_ERRORS,
    openapi_extra=image_forms.form_body(ImageEditForm, EDIT_FILES, ["image"]),
)
async def edit_images(
    request: Request,
    response: Response,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """OpenAI's image edit: the transparent area of the mask (or of the image) drawn anew by
    a latent model, the rest kept exactly; a class the prompt names steers it."""
    body, files = await image_forms.read_form(
        request, ImageEditForm, EDIT_FILES, svc.settings.max_image_bytes
    )
    refuse_unsupported_image(body, "/v1/images/edits")
    model = await open_model(
        svc, caller, rec, body.model, "edit_images", "edit images (use a gan- or vae- model)"
    )
    rec.images = len(files["image"]) + len(files["mask"])  # audited as a count, as chat's
    max_pixels = svc.settings.max_image_pixels
    image = the_image(files["image"], body.model, max_pixels)
    masks = files["mask"]
    alpha = edit_alpha(image, masks[0] if masks else None, max_pixels)
    side = output_side(body.size, image, model.sizes)
    guarded, guard_session = await guarding.guard_request(
        svc, caller, body.model, [TextRequest(prompt=body.prompt)], rec.guard
    )
    prompt = guarded[0].prompt or ""
    return await produce(
        svc,
        caller,
        rec,
        response,
        body.model,
        prompt,
        body.n,
        lambda: model.edit_images(image, alpha, prompt, body.n, side, body.seed),
        guard_session.label is not None,
        body.response_format,
        body.output_format,
        body.output_compression,
    )


@router.post(
    "/v1/images/variations",
    responses=IMAGE_ERRORS,
    openapi_extra=image_forms.form_body(ImageVariationForm, VARIATION_FILES, ["image"]),
)
async def image_variations(
    request: Request,
    response: Response,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """OpenAI's image variation: images near the given one in the model's latent space."""
    body, files = await image_forms.read_form(
        request, ImageVariationForm, VARIATION_FILES, svc.settings.max_image_bytes
    )
    model = await open_model(
        svc,
        caller,
        rec,
        body.model,
        "image_variations",
        "make variations of an image (use a gan- or vae- model)",
    )
    rec.images = len(files["image"])
    image = the_image(files["image"], body.model, svc.settings.max_image_pixels)
    side = output_side(body.size, image, model.sizes)
    # No prompt to guard; the tenant's policy still decides the visible label.
    _, guard_session = await guarding.guard_request(
        svc, caller, body.model, [TextRequest(prompt="")], rec.guard
    )
    return await produce(
        svc,
        caller,
        rec,
        response,
        body.model,
        "",
        body.n,
        lambda: model.image_variations(image, body.n, side, body.seed),
        guard_session.label is not None,
        body.response_format,
    )


def _link_expired() -> NotFound:
    return refused(NotFound, "image_link_expired", "This image link is invalid or has expired")


@router.get(
    "/v1/images/files/{name}",
    response_class=Response,
    responses=content("image/png", "The signed PNG (or JPEG, WebP)") | errors(400, 404),
)
async def image_file(name: str, expires: int, signature: str, svc: Services = Depends(services)):
    """A generated image by its expiring signed link (no API key: the link is the grant)."""
    content_id, _, output_format = name.partition(".")
    if output_format not in provenance.FORMATS:
        raise _link_expired()
    key = provenance.signing_key(svc.settings.server_secret(), "image-links")
    expected = provenance.link_signature(key, content_id, expires)
    valid = _CONTENT_ID.match(content_id) and hmac.compare_digest(expected, signature)
    if not valid or expires < time.time():
        raise _link_expired()
    try:  # a PNG of at most a few hundred KiB
        data = await run_in_threadpool(svc.storage.read_bytes, image_key(content_id, output_format))
    except BlobNotFound:
        raise _link_expired() from None
    return Response(
        data,
        media_type=inputs.FORMATS[provenance.FORMATS[output_format]],
        headers={"Cache-Control": "private, max-age=3600"},
    )


# --- extensions: latent interpolation and arithmetic ---------------------------------------


def _latent(model: Any, point: LatentPoint) -> Any:
    import torch

    label = class_index(point.label, model.classes)
    if point.image is not None:
        need(model, "encode", "this model", "encode images (use a VAE)")
        pixels = image_array(decode_image(point.image), model.native, model.cfg.channels)
        return model.encode(pixels, [label])[0]
    latent = model.latent([label], point.seed)[0]
    if point.seed is None:  # no seed: the class's centre (mean noise is zero)
        latent = torch.cat([torch.zeros(model.z_dim, device=latent.device), latent[model.z_dim :]])
    return latent


async def _latent_images(
    svc: Services,
    caller: Principal,
    rec: RequestRecord,
    name: str,
    size: str | None,
    count: int,
    make: Callable[[Any], np.ndarray],
) -> dict[str, Any]:
    """The latent-space endpoints' shared path: resolve, check, admit, decode, deliver, settle."""
    model = await open_model(
        svc, caller, rec, name, "interpolate", "have a latent space (use a gan- or vae- model)"
    )
    side = parse_size(size, model.sizes)
    reservation = await admit(svc, caller, rec, "", count)

    def run() -> list[dict[str, Any]]:
        from aigc.models.image.sampling import upscale

        return deliver(svc, caller, rec, name, upscale(make(model), side), "b64_json")

    try:
        data = await run_in_threadpool(run)
    finally:
        await settle(svc, reservation, rec)
    return {"created": int(time.time()), "data": data}


@router.post("/api/images/interpolate", responses=IMAGE_ERRORS)
async def interpolate(
    body: InterpolationRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Images along the straight line between two latents (ends included)."""

    def make(model: Any) -> np.ndarray:
        return model.interpolate(_latent(model, body.start), _latent(model, body.end), body.steps)

    return await _latent_images(svc, caller, rec, body.model, body.size, body.steps, make)


@router.post("/api/images/arithmetic", responses=IMAGE_ERRORS)
async def arithmetic(
    body: ArithmeticRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Decode Σ weight·latent(term): e.g. image of a 3 − class 3 + class 8 → that style's 8."""

    def make(model: Any) -> np.ndarray:
        return model.decode(sum(t.weight * _latent(model, t) for t in body.terms)[None])

    return await _latent_images(svc, caller, rec, body.model, body.size, 1, make)


# --- captions, embeddings, zero-shot -------------------------------------------------------


@router.post("/api/images/caption", responses=IMAGE_ERRORS)
async def caption(
    body: CaptionRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    model = await open_model(
        svc, caller, rec, body.model, "caption", "write captions (use an mm- captioner)"
    )
    pixels = image_array(decode_image(body.image), model.size, model.channels)
    reservation = await admit(svc, caller, rec, "", 1)
    try:
        text = (await run_in_threadpool(model.caption, pixels, body.language))[0]
    finally:
        await settle(svc, reservation, rec)
    return {
        "object": "image.caption",
        "model": body.model,
        "language": body.language,
        "caption": text,
    }


@router.post("/api/images/embeddings", responses=IMAGE_ERRORS)
async def embeddings(
    body: ImageEmbeddingRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Unit vectors for texts and/or images in one CLIP space (cosine = dot product)."""
    require_role(caller, "member")
    rec.model = body.model
    if not body.input and not body.images:
        raise InvalidRequest(
            "Give texts in 'input' and/or base64 images in 'images'",
            param="input",
            code="missing_required_parameter",
        )
    model: Any = await svc.model(caller, body.model)  # a CLIP model once ``need`` passes
    need(model, "embed_images", body.model, "embed images and text (use a clip- model)")
    arrays = [
        image_array(decode_image(b, "images"), model.size, model.channels)
        for b in body.images or []
    ]
    reservation = await admit(svc, caller, rec, " ".join(body.input or []), len(arrays))

    def run() -> dict[str, Any]:
        out: dict[str, Any] = {"object": "list", "model": body.model}
        if body.input:
            vectors = model.embed_texts(body.input).cpu().numpy()
            out["text_embeddings"] = [
                {"index": i, "embedding": v.round(6).tolist()} for i, v in enumerate(vectors)
            ]
        if arrays:
            vectors = model.embed_images(np.concatenate(arrays)).cpu().numpy()
            out["image_embeddings"] = [
                {"index": i, "embedding": v.round(6).tolist()} for i, v in enumerate(vectors)
            ]
        return out

    try:
        return await run_in_threadpool(run)
    finally:
        await settle(svc, reservation, rec)


@router.post("/api/images/classify", responses=IMAGE_ERRORS)
async def classify(
    body: ClassifyRequest,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Zero-shot: which of ``labels`` (each put into ``template``) the image shows."""
    require_role(caller, "member")
    rec.model = body.model
    if "{}" not in body.template:
        raise refused_value(
            "template_needs_slot", "template must contain {} where the label goes", param="template"
        )
    model: Any = await svc.model(caller, body.model)  # a CLIP model once ``need`` passes
    need(model, "zero_shot", body.model, "classify zero-shot (use a clip- model)")
    pixels = image_array(decode_image(body.image), model.size, model.channels)
    reservation = await admit(svc, caller, rec, " ".join(body.labels), 1)
    try:
        probs = await run_in_threadpool(model.zero_shot, pixels, body.labels, [body.template])
    finally:
        await settle(svc, reservation, rec)
    ranked = sorted(zip(body.labels, probs[0].tolist(), strict=True), key=lambda p: -p[1])
    return {
        "object": "image.classification",
        "model": body.model,
        "labels": [{"label": label, "probability": round(p, 6)} for label, p in ranked],
    }


# --- provenance ----------------------------------------------------------------------------


@router.post("/api/provenance/verify", responses=errors(400, 401, 403, 413))
async def verify(
    body: VerifyRequest,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Was this image generated here, unchanged? Checks signature, label and pixel hash."""
    require_role(caller, "viewer")
    data = body.image.split(",", 1)[-1] if body.image.startswith("data:") else body.image
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise refused_value(
            "base64_invalid",
            "The image is not valid base64",
            param="image",
            code="invalid_image",
            place="image",
        ) from None
    key = provenance.signing_key(svc.settings.server_secret())
    return provenance.verify_png(raw, key).as_dict()
