"""moto's S3 server as a real process on a free loopback port, for the S3 backend's tests.

A protocol check only: moto implements S3's HTTP API (signatures, multipart uploads,
pagination) in Python, but it is a mock, not a storage service. There is no S3-compatible
server in Debian's or PyPI's packages that is not one (docs/storage.md says so).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aigc.config import Settings
from tests import processes
from tests.e2e.server import free_port

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key-0123456789"
REGION = "us-east-1"


@contextmanager
def moto_s3(log_dir: Path) -> Iterator[str]:
    """Start ``moto.server`` (S3 only); yield its endpoint URL; stop it afterwards."""
    port = free_port()
    log = log_dir / f"moto-{port}.log"
    proc = processes.spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_ready(
            proc,
            processes.answers(url + "/moto-api/"),
            name="moto",
            log_path=log,
            timeout=60,
            stop=lambda: None,  # the finally below stops it
        )
        yield url
    finally:
        processes.stop(proc, timeout=10)


def make_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ).create_bucket(Bucket=bucket)


def s3_env(endpoint: str, bucket: str, prefix: str = "") -> dict[str, str]:
    """The settings (as AIGC_* variables) of a server using this bucket."""
    return {
        "AIGC_STORAGE_BACKEND": "s3",
        "AIGC_S3_ENDPOINT_URL": endpoint,
        "AIGC_S3_BUCKET": bucket,
        "AIGC_S3_REGION": REGION,
        "AIGC_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "AIGC_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "AIGC_S3_PREFIX": prefix,
    }


def s3_settings(data_dir: Path, endpoint: str, bucket: str, prefix: str = "") -> Settings:
    """The same settings as ``s3_env``, as an in-process ``Settings`` for ``storage_for``."""
    env = s3_env(endpoint, bucket, prefix)
    return Settings(
        data_dir=data_dir, **{k.removeprefix("AIGC_").lower(): v for k, v in env.items()}
    )
