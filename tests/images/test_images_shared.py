"""A generated image's link made by one instance is served by another: the PNG lives in the
shared blob store (a shared directory, or S3 through moto's server as a protocol check), not in
the data directory of the instance that made it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.pair import two_instances
from tests.e2e.server import make_org
from tests.s3_server import make_bucket, s3_env

pytestmark = pytest.mark.timeout(900)


@pytest.mark.parametrize("backend", ["directory", "s3"])
def test_an_image_link_from_a_is_fetched_through_b(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_url: str,
    model_root: Path,
    gan_dir: Path,
) -> None:
    if backend == "directory":
        storage = {"AIGC_STORAGE_DIR": str(tmp_path / "shared")}
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = f"img-{os.urandom(4).hex()}"
        make_bucket(endpoint, bucket)
        storage = s3_env(endpoint, bucket)
    with two_instances(tmp_path, postgres_url, storage, AIGC_IMPORT_ROOTS=str(model_root)) as (
        a,
        b,
    ):
        added = a.api(
            "POST",
            "/api/models",
            json={"id": "gan-tiny", "config": {"path": str(gan_dir)}, "shared": True},
        )
        assert added.status_code == 201, added.text
        org = make_org(a, "Pictures")
        client = a.sdk(org.member_key)
        url = client.images.generate(model="gan-tiny", prompt="八", response_format="url")
        link = url.data[0].url or ""
        assert link.startswith(a.base_url)
        assert not list(a.data_dir.rglob("img_*.png"))  # not kept on A's own disk
        via_b = httpx.get(link.replace(a.base_url, b.base_url), timeout=30)
        assert via_b.status_code == 200 and via_b.headers["content-type"] == "image/png"
        assert via_b.content.startswith(b"\x89PNG")
        forged = link.replace(a.base_url, b.base_url).replace("signature=", "signature=0")
        assert httpx.get(forged, timeout=30).status_code == 404
