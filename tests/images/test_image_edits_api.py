"""OpenAI's /v1/images/edits and /v1/images/variations on a real server, driven by the openai
SDK (multipart bodies as the SDK builds them), answers checked against the SDK's types.

Before these routes existed the SDK's ``images.edit`` and ``images.create_variation`` got a
404 ``unknown_url``."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai.types import ImagesResponse
from PIL import Image

from aigc.models.image.data import ImageSet
from tests.e2e.server import Org, Server, make_org, new_admin_key

pytestmark = pytest.mark.timeout(900)  # the tiny models train in the first test's setup

MAX_IMAGE_BYTES = 64 * 1024  # small, so that an oversized file is cheap to send
TEMPLATE = """
name: no-images
languages: [en]
intents:
  - id: hello
    patterns: ['\\bhello\\b']
    answers:
      en: ["Hello."]
fallback:
  en: ["I only write text."]
"""


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, model_root: Path, vae_dir: Path, gan_dir: Path
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("image-edits") / "data"
    srv = Server(
        data,
        new_admin_key(),
        AIGC_IMPORT_ROOTS=str(model_root),
        AIGC_MAX_IMAGE_BYTES=str(MAX_IMAGE_BYTES),
    ).start()
    srv.register_shared(
        {
            "vae-tiny": {"path": str(vae_dir)},
            "gan-tiny": {"path": str(gan_dir)},
            "template-text": {"yaml": TEMPLATE},
        }
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def org(server: Server) -> Org:
    return make_org(server, "Editors Ltd")


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def digit(digits: ImageSet, index: int, side: int = 16) -> np.ndarray:
    """A test digit (odd index: not trained on) as (side, side) grey bytes."""
    arr = (digits.images[index, 0] * 255).round().astype(np.uint8)
    return arr.repeat(side // 8, axis=0).repeat(side // 8, axis=1)


def half_mask(side: int = 16) -> np.ndarray:
    """RGBA: the bottom half fully transparent (to edit), the top opaque (kept)."""
    mask = np.zeros((side, side, 4), dtype=np.uint8)
    mask[: side // 2, :, 3] = 255
    return mask


def grey(item: Any) -> np.ndarray:
    data = base64.b64decode(item.b64_json or "")
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.int16)


def verify(server: Server, key: str, item: Any) -> dict[str, Any]:
    reply = server.api("POST", "/api/provenance/verify", key=key, json={"image": item.b64_json})
    assert reply.status_code == 200, reply.text
    verdict: dict[str, Any] = reply.json()
    return verdict


def typed(raw: Any) -> ImagesResponse:
    """The answer validated by the SDK's own model (not merely constructed from it)."""
    answer = ImagesResponse.model_validate(raw.http_response.json())
    assert answer.created > 0 and answer.data
    return answer


@pytest.mark.parametrize("model", ["vae-tiny", "gan-tiny"])
def test_sdk_edit_keeps_the_opaque_pixels_and_draws_the_rest(
    server: Server, org: Org, digits: ImageSet, model: str
) -> None:
    source = digit(digits, 7)
    raw = server.sdk(org.member_key).images.with_raw_response.edit(
        model=model,
        image=("seven.png", png(source), "image/png"),
        mask=("mask.png", png(half_mask()), "image/png"),
        prompt="a handwritten 7",
        n=2,
        size="16x16",
        response_format="b64_json",
        extra_body={"seed": 5},
    )
    answer = typed(raw)
    assert answer.output_format == "png" and len(answer.data) == 2
    first, second = (grey(item) for item in answer.data)
    for edited in (first, second):
        assert edited.shape == (16, 16)
        assert (edited[:8] == source[:8]).all()  # kept exactly
    assert (first[8:] != second[8:]).any()  # two different drawings of the transparent half
    for item in answer.data:
        verdict = verify(server, org.member_key, item)
        assert verdict["valid"] and verdict["manifest"]["model"] == model


def test_without_a_mask_the_images_own_transparency_is_edited(
    server: Server, org: Org, digits: ImageSet
) -> None:
    source = digit(digits, 3)
    alpha = np.full_like(source, 255)
    alpha[:, :8] = 0  # the left half transparent
    rgba = np.dstack([source, source, source, alpha])
    result = server.sdk(org.member_key).images.edit(
        model="vae-tiny",
        image=("three.png", png(rgba), "image/png"),
        prompt="三",
        response_format="b64_json",
        extra_body={"seed": 1},
    )
    edited = grey(result.data[0])  # no size: the image's own, which the model offers
    assert (edited[:, 8:] == source[:, 8:]).all()


@pytest.mark.parametrize("model", ["vae-tiny", "gan-tiny"])
def test_sdk_variations_are_new_images_near_the_given_one(
    server: Server, org: Org, digits: ImageSet, model: str
) -> None:
    source = digit(digits, 9, side=8)
    sdk = server.sdk(org.member_key)
    raw = sdk.images.with_raw_response.create_variation(
        model=model,
        image=("digit.png", png(source), "image/png"),
        n=3,
        response_format="b64_json",
        extra_body={"seed": 2},
    )
    answer = typed(raw)
    varied = [grey(item) for item in answer.data]
    assert len(varied) == 3 and all(v.shape == (8, 8) for v in varied)
    assert len({v.tobytes() for v in varied}) == 3  # three different images
    assert all(verify(server, org.member_key, item)["valid"] for item in answer.data)
    if model == "vae-tiny":  # the encoder's neighbourhood: nearer than the other classes
        near = np.mean([np.abs(v - source).mean() for v in varied])
        label = int(digits.labels[9])
        far = [
            np.abs(grey(g) - source).mean()
            for c in range(10)
            if c != label
            for g in sdk.images.generate(
                model=model, prompt=str(c), response_format="b64_json", extra_body={"seed": c}
            ).data
        ]
        assert near < np.mean(far), (near, far)


def test_a_variation_as_a_link(server: Server, org: Org, digits: ImageSet) -> None:
    result = server.sdk(org.member_key).images.create_variation(
        model="vae-tiny", image=("d.png", png(digit(digits, 1)), "image/png"), size="32x32"
    )
    url = result.data[0].url or ""
    assert url.startswith(f"{server.base_url}/v1/images/files/")
    got = httpx.get(url, timeout=30)
    assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (32, 32)


def bad_request(call: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    error: dict[str, Any] = caught.value.body  # type: ignore[assignment]
    assert caught.value.status_code == 400
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    return error


def test_bad_input_is_a_400_naming_the_parameter(
    server: Server, org: Org, digits: ImageSet
) -> None:
    sdk = server.sdk(org.member_key)
    good = ("d.png", png(digit(digits, 5)), "image/png")
    mask = ("m.png", png(half_mask()), "image/png")

    def edit(**fields: Any) -> Any:
        args = {"model": "vae-tiny", "image": good, "mask": mask, "prompt": "5"} | fields
        return lambda: sdk.images.edit(**args)

    def vary(**fields: Any) -> Any:
        return lambda: sdk.images.create_variation(
            **({"model": "vae-tiny", "image": good} | fields)
        )

    jpeg = io.BytesIO()
    Image.fromarray(half_mask()[:, :, 3]).save(jpeg, "JPEG")
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    cases = [
        (edit(image=("d.png", b"not an image at all", "image/png")), "image"),
        (vary(image=("d.txt", "数字五".encode(), "text/plain")), "image"),
        (edit(mask=("m.png", png(half_mask(32)), "image/png")), "mask"),  # size mismatch
        (edit(mask=("m.jpg", jpeg.getvalue(), "image/jpeg")), "mask"),  # no PNG, no alpha
        (edit(mask=("m.png", png(np.full((16, 16, 4), 255, np.uint8)), "image/png")), "mask"),
        (edit(mask=openai.omit), "mask"),  # an opaque image and no mask: nothing to edit
        (edit(image=("wide.png", png(np.zeros((8, 16), np.uint8)), "image/png")), "image"),
        (vary(image=("big.png", png(noise), "image/png")), "image"),  # over the byte limit
        (edit(image=[good] * 17), "image"),  # more than OpenAI's 16
        (edit(image=[good, good]), "image"),  # these models edit one image
        (edit(extra_body={"colour": "red"}), "colour"),  # unknown field
        (vary(extra_body={"prompt": "a 5"}), "prompt"),  # a variation has no prompt
        (edit(n=0), "n"),
        (vary(n=11), "n"),
        (vary(size="17x17"), "size"),
        (edit(response_format="gif"), "response_format"),
        (edit(background="transparent"), "background"),
        (edit(model="template-text"), "model"),  # a model that cannot edit
        (vary(model="template-text"), "model"),
    ]
    for call, param in cases:
        error = bad_request(call)
        assert error["param"] == param, error
    assert bad_request(vary(image=("big.png", png(noise), "image/png")))["code"] == (
        "image_too_large"
    )
    with pytest.raises(openai.NotFoundError):
        vary(model="vae-nowhere")()
    # A body that is no form, and a file where text belongs: 400s naming what is wrong.
    headers = {"Authorization": f"Bearer {org.member_key}"}
    as_json = httpx.post(
        f"{server.base_url}/v1/images/edits", json={"model": "vae-tiny"}, headers=headers
    )
    assert as_json.status_code == 400 and as_json.json()["error"]["code"] == "invalid_body"
    file_as_n = httpx.post(
        f"{server.base_url}/v1/images/variations",
        data={"model": "vae-tiny"},
        files={"image": good, "n": ("n.txt", b"2", "text/plain")},
        headers=headers,
    )
    assert file_as_n.status_code == 400 and file_as_n.json()["error"]["param"] == "n"
    streamed = httpx.post(
        f"{server.base_url}/v1/images/edits",
        data={"model": "vae-tiny", "prompt": "5", "stream": "true"},
        files={"image": good, "mask": mask},
        headers=headers,
    )
    assert streamed.status_code == 400 and streamed.json()["error"]["param"] == "stream"


def test_limits_moderation_and_audit_apply_as_to_generations(
    server: Server, digits: ImageSet
) -> None:
    guarded = make_org(server, "Guarded Pictures")
    policy = (
        "name: no-cats\nrules:\n  - {id: cats, stage: input, detector: keywords, "
        "words: [cat, 猫], action: block}\n"
    )
    made = server.api("POST", "/api/policies", key=guarded.admin_key, json={"yaml": policy})
    assert made.status_code == 201, made.text
    created = server.api("POST", "/api/keys", key=guarded.admin_key, json={"rpm_limit": 2})
    assert created.status_code == 201, created.text
    sdk = server.sdk(created.json()["key"])
    image = ("d.png", png(digit(digits, 5)), "image/png")
    mask = ("m.png", png(half_mask()), "image/png")

    error = bad_request(
        lambda: sdk.images.edit(model="vae-tiny", image=image, mask=mask, prompt="一只猫")
    )
    assert error["code"] == "content_policy_violation"
    edited = sdk.images.with_raw_response.edit(
        model="vae-tiny", image=image, mask=mask, prompt="5", response_format="b64_json"
    )
    # The blocked prompt was refused before admission (as a generation's): no request spent.
    assert edited.headers["x-ratelimit-limit-requests"] == "2"
    assert edited.headers["x-ratelimit-remaining-requests"] == "1"
    varied = sdk.images.with_raw_response.create_variation(
        model="vae-tiny", image=image, n=2, response_format="b64_json"
    )
    assert varied.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError):
        sdk.images.create_variation(model="vae-tiny", image=image)

    rows = server.api("GET", "/api/audit", key=guarded.admin_key).json()["data"]
    by_endpoint = {(r["endpoint"], r["status"]): r for r in rows}
    edit_row = by_endpoint["/v1/images/edits", 200]
    assert edit_row["model"] == "vae-tiny" and edit_row["completion_tokens"] == 256
    assert edit_row["images"] == 2  # the image and its mask, counted (never their bytes)
    assert by_endpoint["/v1/images/variations", 200]["completion_tokens"] == 512
    assert ("/v1/images/edits", 400) in by_endpoint  # the blocked prompt, audited
