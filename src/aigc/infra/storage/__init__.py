"""One storage interface for everything instances share besides the database and Redis.

``storage_for(settings)`` gives the configured ``BlobStore``: a ``DirectoryStore`` (default,
rooted at ``storage_dir`` or ``data_dir`` itself) or an ``S3Store``. ``folders`` holds the
helpers that move a whole folder (a trained model, checkpoints) in and out of it, with a local
cache keyed by a content version kept in the database. See docs/storage.md.
"""

from __future__ import annotations

import functools

from aigc.config import Settings
from aigc.infra.storage.base import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    InvalidKey,
    check_key,
    check_prefix,
)
from aigc.infra.storage.directory import DirectoryStore

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "DirectoryStore",
    "InvalidKey",
    "check_key",
    "check_prefix",
    "storage_for",
]


def storage_for(settings: Settings) -> BlobStore:
    """The store ``settings`` name, one per distinct configuration in this process (an S3
    client is costly to make and safe to share between threads). boto3 is imported only when
    the S3 backend is chosen."""
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("storage_backend 's3' needs s3_bucket (AIGC_S3_BUCKET)")
        secret = settings.s3_secret_access_key
        return _s3(
            settings.s3_bucket,
            settings.s3_prefix,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            secret.get_secret_value() if secret is not None else None,
        )
    return DirectoryStore(settings.storage_dir or settings.data_dir)


@functools.lru_cache(maxsize=8)
def _s3(
    bucket: str,
    prefix: str,
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> BlobStore:
    from aigc.infra.storage.s3 import S3Store

    return S3Store(
        bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
    )
