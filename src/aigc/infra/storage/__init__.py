"""One storage interface for everything instances share besides the database and Redis.

``storage_for(settings)`` gives the configured ``BlobStore``: a ``DirectoryStore`` (default,
rooted at ``storage_dir`` or ``data_dir`` itself) or an ``S3Store``. ``folders`` holds the
helpers that move a whole folder (a trained model, checkpoints) in and out of it, with a local
cache keyed by a content version kept in the database. See docs/storage.md.
"""

from __future__ import annotations

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
    """The store ``settings`` name. boto3 is imported only when the S3 backend is chosen."""
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("storage_backend 's3' needs s3_bucket (AIGC_S3_BUCKET)")
        from aigc.infra.storage.s3 import S3Store

        secret = settings.s3_secret_access_key
        return S3Store(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )
    return DirectoryStore(settings.storage_dir or settings.data_dir)
