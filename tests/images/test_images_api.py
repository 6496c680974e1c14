"""The image API through the gateway: OpenAI SDK, provenance, sizes, latents, captions, CLIP."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from PIL import Image, PngImagePlugin

from aigc.models.image.quality import FixedClassifier
from tests.e2e.server import Org, Server, make_org, new_admin_key

# Training the tiny models (session fixtures) happens in the first test's setup; on a busy
# shared machine that can take minutes.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def image_server(
    tmp_path_factory: pytest.TempPathFactory,
    model_root: Path,
    vae_dir: Path,
    gan_dir: Path,
    captioner_dir: Path,
    text2image_dir: Path,
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("image-server") / "data"
    srv = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(model_root)).start()
    for name, folder in (
        ("vae-tiny", vae_dir),
        ("gan-tiny", gan_dir),
        ("clip-tiny", model_root / "clip"),
        ("mm-tiny-captioner", captioner_dir),
        ("mm-tiny-text2image", text2image_dir),
    ):
        r = srv.api(
            "POST",
            "/api/models",
            json={"id": name, "config": {"path": str(folder)}, "shared": True},
        )
        assert r.status_code == 201, r.text
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def org(image_server: Server) -> Org:
    return make_org(image_server, "Pictures Ltd")


def _png(b64: str) -> bytes:
    return base64.b64decode(b64)


def _pixels(png: bytes) -> np.ndarray:
    """(1, 1, 8, 8) floats for the classifier (downscaled from an integer upscale)."""
    img = Image.open(io.BytesIO(png)).convert("L")
    arr = np.asarray(img, dtype=np.float64) / 255.0
    step = arr.shape[0] // 8
    return arr[::step, ::step][None, None]


def _verify(server: Server, key: str, png: bytes) -> dict:
    r = server.api(
        "POST", "/api/provenance/verify", key=key, json={"image": base64.b64encode(png).decode()}
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_sdk_generates_signed_pngs_that_verify(image_server: Server, org: Org) -> None:
    client = image_server.sdk(org.member_key)
    result = client.images.generate(
        model="vae-tiny",
        prompt="a handwritten 7",
        n=2,
        size="16x16",
        response_format="b64_json",
        extra_body={"seed": 4},
    )
    assert len(result.data) == 2
    png = _png(result.data[0].b64_json or "")
    img = Image.open(io.BytesIO(png))
    assert img.size == (16, 16) and img.format == "PNG"
    verdict = _verify(image_server, org.member_key, png)
    assert verdict["valid"], verdict
    assert verdict["manifest"]["tenant"] == org.id and verdict["manifest"]["model"] == "vae-tiny"
    assert json.loads(img.text["AIGC"])["Label"] == "1"

    # edited metadata fails
    text = dict(img.text)
    manifest = json.loads(text["aigc.manifest"]) | {"tenant": "someone-else"}
    forged = _save(np.array(img), text | {"aigc.manifest": json.dumps(manifest)})
    assert not _verify(image_server, org.member_key, forged)["valid"]
    # one changed pixel fails
    pixels = np.array(img)
    pixels[0, 0] = 255 - pixels[0, 0]
    assert not _verify(image_server, org.member_key, _save(pixels, text))["valid"]


def _save(pixels: np.ndarray, text: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_url_links_are_signed_and_expire(image_server: Server, org: Org) -> None:
    client = image_server.sdk(org.member_key)
    result = client.images.generate(model="gan-tiny", prompt="八", response_format="url")
    url = result.data[0].url or ""
    assert url.startswith(image_server.base_url)
    got = httpx.get(url)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert _verify(image_server, org.member_key, got.content)["valid"]
    assert httpx.get(url.replace("signature=", "signature=0")).status_code == 404
    assert httpx.get(url.replace("expires=", "expires=1")).status_code == 404


def test_sizes_and_models_are_checked(image_server: Server, org: Org) -> None:
    client = image_server.sdk(org.member_key)
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(model="vae-tiny", prompt="3", size="1024x1024")
    assert "8x8" in bad.value.message and "16x16" in bad.value.message
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="clip-tiny", prompt="3")
    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="vae-nobody", prompt="3")
    with pytest.raises(openai.AuthenticationError):
        image_server.sdk("sk-aigc-wrong").images.generate(model="vae-tiny", prompt="3")


def test_text_to_image_through_the_api(
    image_server: Server, org: Org, classifier: FixedClassifier
) -> None:
    client = image_server.sdk(org.member_key)
    result = client.images.generate(
        model="mm-tiny-text2image",
        prompt="手写数字三",
        n=10,
        response_format="b64_json",
        extra_body={"seed": 0},
    )
    predicted = [classifier.predict(_pixels(_png(d.b64_json or "")))[0] for d in result.data]
    assert np.mean(np.array(predicted) == 3) >= 0.5


def test_interpolation_and_arithmetic_move_the_classifier(
    image_server: Server, org: Org, classifier: FixedClassifier
) -> None:
    r = image_server.api(
        "POST",
        "/api/images/interpolate",
        key=org.member_key,
        json={
            "model": "vae-tiny",
            "start": {"label": "1", "seed": 2},
            "end": {"label": "6", "seed": 2},
            "steps": 5,
        },
    )
    assert r.status_code == 200, r.text
    probs = np.concatenate(
        [classifier.probabilities(_pixels(_png(d["b64_json"]))) for d in r.json()["data"]]
    )
    assert probs[0].argmax() == 1 and probs[-1].argmax() == 6
    assert probs[-1, 6] > probs[0, 6] and probs[0, 1] > probs[-1, 1]

    # style of one generated 3, class swapped to 8: image(3) − class 3 + class 8
    three = image_server.api(
        "POST",
        "/v1/images/generations",
        key=org.member_key,
        json={
            "model": "vae-tiny",
            "prompt": "3",
            "response_format": "b64_json",
            "seed": 9,
        },
    ).json()["data"][0]["b64_json"]
    r = image_server.api(
        "POST",
        "/api/images/arithmetic",
        key=org.member_key,
        json={
            "model": "vae-tiny",
            "terms": [
                {"label": "3", "image": three},
                {"label": "3", "weight": -1},
                {"label": "8", "weight": 1},
            ],
        },
    )
    assert r.status_code == 200, r.text
    result = _pixels(_png(r.json()["data"][0]["b64_json"]))
    assert classifier.predict(result)[0] == 8
    assert classifier.predict(_pixels(_png(three)))[0] == 3
    r = image_server.api(
        "POST",
        "/api/images/arithmetic",
        key=org.member_key,
        json={"model": "clip-tiny", "terms": [{"label": "3"}]},
    )
    assert r.status_code == 400


def test_caption_embeddings_and_zero_shot(image_server: Server, org: Org, digits) -> None:
    seven = digits.odd().images[digits.odd().labels == 7][0, 0]
    buf = io.BytesIO()
    Image.fromarray((seven * 255).astype(np.uint8)).save(buf, "PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    r = image_server.api(
        "POST",
        "/api/images/caption",
        key=org.member_key,
        json={"model": "mm-tiny-captioner", "image": b64, "language": "zh"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["caption"].startswith("手写")
    r = image_server.api(
        "POST",
        "/api/images/embeddings",
        key=org.member_key,
        json={
            "model": "clip-tiny",
            "input": ["a photo of a seven", "一张七的照片"],
            "images": [b64],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    text = np.array([e["embedding"] for e in body["text_embeddings"]])
    image = np.array(body["image_embeddings"][0]["embedding"])
    assert text.shape == (2, 64) and abs(np.linalg.norm(image) - 1) < 1e-3
    r = image_server.api(
        "POST",
        "/api/images/classify",
        key=org.member_key,
        json={
            "model": "clip-tiny",
            "image": b64,
            "labels": ["one", "seven", "zero"],
            "template": "a photo of a {}",
        },
    )
    assert r.status_code == 200 and r.json()["labels"][0]["label"] == "seven"
    r = image_server.api(
        "POST",
        "/api/images/caption",
        key=org.member_key,
        json={"model": "mm-tiny-captioner", "image": "not base64!"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "image"


def test_a_tenants_image_model_is_invisible_to_others(
    image_server: Server, org: Org, vae_dir: Path
) -> None:
    """Registered unshared by the platform admin, it belongs to the admin's own tenant."""
    r = image_server.api(
        "POST", "/api/models", json={"id": "vae-private", "config": {"path": str(vae_dir)}}
    )
    assert r.status_code == 201, r.text
    own = image_server.sdk(image_server.admin_key).images.generate(
        model="vae-private", prompt="1", response_format="b64_json"
    )
    assert len(own.data) == 1
    with pytest.raises(openai.NotFoundError):
        image_server.sdk(org.member_key).images.generate(model="vae-private", prompt="1")
    r = image_server.api(
        "POST",
        "/api/images/interpolate",
        key=org.member_key,
        json={"model": "vae-private", "start": {"label": "1"}, "end": {"label": "2"}},
    )
    assert r.status_code == 404


def test_a_tenant_policy_switches_on_the_visible_label(image_server: Server) -> None:
    labelled = make_org(image_server, "Labelled Co")
    r = image_server.api(
        "POST",
        "/api/policies",
        key=labelled.admin_key,
        json={"yaml": "name: labels\nlabels: {explicit: true}\n"},
    )
    assert r.status_code == 201, r.text
    result = image_server.sdk(labelled.member_key).images.generate(
        model="vae-tiny", prompt="2", response_format="b64_json"
    )
    png = _png(result.data[0].b64_json or "")
    img = Image.open(io.BytesIO(png))
    assert img.size == (32, 44)  # enlarged to 32 px, with the 12 px label band
    verdict = _verify(image_server, labelled.member_key, png)
    assert verdict["valid"] and verdict["manifest"]["visible_label"]
