"""OpenAI's newer image options on /v1/images/generations, in process (a few-step GAN): what
the server does not serve is a 400 naming it, never ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aigc.app import create_app
from aigc.config import Settings
from tests.e2e.server import new_admin_key

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
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {admin_key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://aigc.test", headers=headers
        ) as client:
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
