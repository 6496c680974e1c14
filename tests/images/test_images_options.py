"""OpenAI's newer image options on /v1/images/generations, in process (a few-step GAN): the
file format asked for (signed as a PNG is), size auto, and what the server does not serve (a
stream of partial images) a 400 naming it, never ignored."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from openai.types import ImagesResponse
from PIL import Image

from aigc.config import Settings
from aigc.gateway.routes.images import IMAGE_TOKENS
from tests.e2e.server import new_admin_key
from tests.in_process import started_app_client

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]

MODEL = "gan-tiny"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api(tmp_path: Path, model_root: Path, gan_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the few-step GAN registered, driven through httpx's ASGI transport."""
    admin_key = new_admin_key()
    settings = Settings(
        data_dir=tmp_path / "data",
        admin_key=admin_key,
        default_models=False,
        console=False,
        import_roots=[model_root],
    )
    async with started_app_client(settings) as client:
        made = await client.post(
            "/api/models", json={"id": MODEL, "config": {"path": str(gan_dir)}}
        )
        assert made.status_code == 201, made.text
        yield client


async def generate(api: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body = {"model": MODEL, "prompt": "八", "response_format": "b64_json"} | fields
    return await api.post("/v1/images/generations", json=body)


async def test_a_stream_of_partial_images_is_refused_by_name(api: httpx.AsyncClient) -> None:
    """Answered with plain JSON, the SDK's Stream read no event: no image and no error."""
    for fields, param in (
        ({"stream": True}, "stream"),
        ({"stream": True, "partial_images": 2}, "stream"),
        ({"partial_images": 2}, "partial_images"),
    ):
        reply = await generate(api, **fields)
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] == "unsupported_parameter" and error["param"] == param
        assert param in error["message"]
    plain = await generate(api, stream=False, partial_images=0)  # what the SDK may send
    assert plain.status_code == 200, plain.text
    assert len(plain.json()["data"]) == 1


async def test_a_transparent_background_is_refused_by_name(api: httpx.AsyncClient) -> None:
    """Every image here is opaque: ``transparent`` was taken and silently ignored."""
    refused = await generate(api, background="transparent", output_format="webp")
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["param"], error["code"]) == ("background", "unsupported_parameter")
    for background in ("auto", "opaque"):
        taken = await generate(api, background=background)
        assert taken.status_code == 200, taken.text


async def test_a_limited_key_gets_the_rate_limit_headers(api: httpx.AsyncClient) -> None:
    """Images were held to the key's limits but said nothing of them until the 429 (chat,
    completions and responses answer them on every call; the SDK's with_raw_response reads
    them)."""
    made = await api.post("/api/keys", json={"rpm_limit": 2})
    assert made.status_code == 201, made.text
    limited = {"Authorization": f"Bearer {made.json()['key']}"}
    body = {"model": MODEL, "prompt": "七", "response_format": "b64_json"}
    first = await api.post("/v1/images/generations", json=body, headers=limited)
    assert first.status_code == 200, first.text
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    await api.post("/v1/images/generations", json=body, headers=limited)
    refused = await api.post("/v1/images/generations", json=body, headers=limited)
    assert refused.status_code == 429 and refused.headers["x-ratelimit-remaining-requests"] == "0"


async def test_images_over_the_keys_tokens_per_minute_say_what_counts(
    api: httpx.AsyncClient,
) -> None:
    """The 429 said "Lower max_tokens": an image request has none."""
    made = await api.post("/api/keys", json={"tpm_limit": IMAGE_TOKENS + 10})
    assert made.status_code == 201, made.text
    limited = {"Authorization": f"Bearer {made.json()['key']}"}
    body = {"model": MODEL, "prompt": "七", "n": 2, "response_format": "b64_json"}
    refused = await api.post("/v1/images/generations", json=body, headers=limited)
    assert refused.status_code == 429, refused.text
    message = refused.json()["error"]["message"]
    assert "max_tokens" not in message and "fewer images" in message


async def test_an_image_request_refused_by_the_limits_uses_no_tokens(
    api: httpx.AsyncClient,
) -> None:
    """Was: the refused request's prompt and its images' 256 tokens each went into the audit,
    so the usage report (and the daily budget, seeded from it after a restart) counted
    images that were never made."""
    made = await api.post("/api/keys", json={"rpm_limit": 1})
    assert made.status_code == 201, made.text
    limited = {"Authorization": f"Bearer {made.json()['key']}"}
    body = {"model": MODEL, "prompt": "七", "n": 2, "response_format": "b64_json"}
    assert (await api.post("/v1/images/generations", json=body, headers=limited)).status_code == 200
    refused = await api.post("/v1/images/generations", json=body, headers=limited)
    assert refused.status_code == 429, refused.text
    for _ in range(300):  # the audit is written in batches, a moment after each answer
        rows = (await api.get("/api/usage", params={"group_by": "key_id"})).json()["data"]
        row = next((r for r in rows if r["key_id"] == made.json()["id"]), None)
        if row is not None and row["requests"] == 2:
            break
        await anyio.sleep(0.1)
    assert row is not None and row["requests"] == 2, rows
    assert row["completion_tokens"] == 2 * IMAGE_TOKENS  # the two images made, no more


def _decoded(item: dict[str, Any]) -> bytes:
    return base64.b64decode(item["b64_json"])


async def _verify(api: httpx.AsyncClient, data: bytes) -> dict[str, Any]:
    image = base64.b64encode(data).decode()
    reply = await api.post("/api/provenance/verify", json={"image": image})
    assert reply.status_code == 200, reply.text
    verdict: dict[str, Any] = reply.json()
    return verdict


@pytest.mark.parametrize(("output_format", "pillow"), [("jpeg", "JPEG"), ("webp", "WEBP")])
async def test_output_format_is_the_file_format_and_it_is_signed(
    api: httpx.AsyncClient, output_format: str, pillow: str
) -> None:
    """Before, every answer was a PNG whatever output_format said."""
    reply = await generate(api, output_format=output_format, seed=3)
    assert reply.status_code == 200, reply.text
    assert reply.json()["output_format"] == output_format
    data = _decoded(reply.json()["data"][0])
    assert Image.open(io.BytesIO(data)).format == pillow
    verdict = await _verify(api, data)
    assert verdict["valid"], verdict
    assert verdict["manifest"]["AIGC"]["Label"] == "1"  # the implicit label travels too
    smaller = await generate(api, output_format=output_format, seed=3, output_compression=5)
    assert smaller.status_code == 200, smaller.text
    low = _decoded(smaller.json()["data"][0])
    assert len(low) < len(data) and (await _verify(api, low))["valid"]
    linked = await generate(api, output_format=output_format, response_format="url")
    url = linked.json()["data"][0]["url"]
    assert f".{output_format}?" in url
    got = await api.get(url.removeprefix("http://aigc.test"), headers={"Authorization": ""})
    assert got.status_code == 200 and got.headers["content-type"] == f"image/{output_format}"
    assert (await _verify(api, got.content))["valid"]


async def test_a_png_is_still_the_default_and_takes_no_compression(
    api: httpx.AsyncClient,
) -> None:
    reply = await generate(api)
    assert Image.open(io.BytesIO(_decoded(reply.json()["data"][0]))).format == "PNG"
    refused = await generate(api, output_format="png", output_compression=50)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "output_compression"
    unknown = await generate(api, output_format="gif")
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "output_format"


async def test_size_auto_is_the_model_s_native_size(api: httpx.AsyncClient) -> None:
    """OpenAI's default size for its newer models was a 400 here."""
    native = await generate(api)
    auto = await generate(api, size="auto")
    assert auto.status_code == 200, auto.text
    side = Image.open(io.BytesIO(_decoded(native.json()["data"][0]))).size
    assert Image.open(io.BytesIO(_decoded(auto.json()["data"][0]))).size == side


async def test_a_generation_parses_with_the_sdks_strict_model(api: httpx.AsyncClient) -> None:
    """The answer said ``"size": "16x16"``; the SDK's ImagesResponse knows only gpt-image's
    three sizes, so strict parsing (as typed clients do) refused every generation."""
    for fields in ({}, {"size": "auto"}, {"output_format": "webp"}, {"response_format": "url"}):
        reply = await generate(api, **fields)
        assert reply.status_code == 200, reply.text
        parsed = ImagesResponse.model_validate(reply.json(), strict=True)
        assert parsed.data and parsed.size is None
