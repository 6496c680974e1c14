"""The S3 backend: keys are object names (after an optional prefix) in one bucket.

Through boto3, so any S3-compatible service works (AWS, MinIO, Ceph RGW, ...); transfers use
boto3's managed transfer (multipart above ``multipart_threshold``, parts streamed from the
file or stream, never the whole object in memory). S3 writes are atomic per object already.
The secret key is handed to boto3 only; this module never logs or repeats it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from aigc.infra.storage.base import BlobInfo, BlobNotFound, BlobStore, check_key, check_prefix

MIB = 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class S3Store(BlobStore):
    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        multipart_threshold: int = 64 * MIB,
        multipart_chunk: int = 16 * MIB,
    ) -> None:
        if prefix:
            check_prefix(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunk,
            max_concurrency=4,
        )

    def __repr__(self) -> str:  # no credentials in logs
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        counted = _Counting(stream)
        self.client.upload_fileobj(counted, self.bucket, self._name(key), Config=self.transfer)
        return counted.count

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        self.client.upload_file(str(path), self.bucket, self._name(key), Config=self.transfer)
        if move:
            Path(path).unlink()

    def open(self, key: str) -> BinaryIO:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(key) from None
            raise
        body: BinaryIO = reply["Body"]  # botocore's StreamingBody: read(n), close()
        return body

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return head

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise BlobNotFound(key)
        return int(head["ContentLength"])

    def list(self, prefix: str = "") -> list[BlobInfo]:
        check_prefix(prefix)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        found = [
            BlobInfo(
                obj["Key"][len(self.prefix) :], int(obj["Size"]), obj["LastModified"].timestamp()
            )
            for page in pages
            for obj in page.get("Contents", [])
        ]
        return sorted(found, key=lambda info: info.key)

    def download(self, key: str, dest: Path) -> None:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=".blob-", suffix=".part")
        os.close(fd)
        try:
            self.client.download_file(self.bucket, self._name(key), name, Config=self.transfer)
            Path(name).replace(dest)
        except ClientError as exc:
            Path(name).unlink(missing_ok=True)
            if _missing(exc):
                raise BlobNotFound(key) from None
            raise
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        return existed

    def delete_prefix(self, prefix: str) -> int:
        if not check_prefix(prefix):
            raise ValueError("delete_prefix('') would empty the whole store; name a folder")
        keys = [info.key for info in self.list(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 at most
            batch = [{"Key": self._name(k)} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)


class _Counting:
    """A read-only stream that counts what passes through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.count += len(data)
        return data
