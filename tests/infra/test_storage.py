"""The blob store's contract, run against both backends: a directory and S3.

The S3 runs talk to moto's server mode, a real process on a loopback port: a check of the
protocol boto3 speaks (multipart uploads, pagination, errors), not of a storage service.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from aigc.config import Settings
from aigc.infra.storage import BlobNotFound, BlobStore, DirectoryStore, InvalidKey, storage_for
from aigc.infra.storage.folders import folder_version, materialise, publish
from tests.s3_server import s3_env, s3_settings

MIB = 1024 * 1024


class Pattern(io.RawIOBase):
    """``size`` pseudo-random bytes made on demand: a big upload never exists in memory."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        block = (hashlib.sha256(str(self.left).encode()).digest() * (n // 32 + 1))[:n]
        buffer[:n] = block
        self.digest.update(block)
        self.left -= n
        return n


def test_round_trip_bytes_exists_size_delete(store: BlobStore) -> None:
    key = "files/t1/file-abc"
    assert not store.exists(key)
    store.put_bytes(key, "你好, world".encode())
    assert store.exists(key)
    assert store.size(key) == len("你好, world".encode())
    assert store.read_bytes(key).decode() == "你好, world"
    store.put_bytes(key, b"replaced")  # overwrite
    assert store.read_bytes(key) == b"replaced"
    assert store.delete(key) is True
    assert not store.exists(key)
    assert store.delete(key) is False  # a missing key is not an error for delete


def test_missing_keys_raise_blob_not_found(store: BlobStore, tmp_path: Path) -> None:
    for call in (
        lambda: store.open("nope/missing"),
        lambda: store.read_bytes("nope/missing"),
        lambda: store.size("nope/missing"),
        lambda: store.download("nope/missing", tmp_path / "x"),
    ):
        with pytest.raises(BlobNotFound) as caught:
            call()
        assert caught.value.status == 404
        assert "nope/missing" in caught.value.message
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "key", ["../escape", "a/../../b", "/etc/passwd", "a//b", "a/./b", "a\\b", "a\nb", "", "a/"]
)
def test_keys_that_could_leave_the_store_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put_bytes(key, b"x")
    with pytest.raises(InvalidKey):
        store.exists(key)


def test_big_object_streams_in_and_out(store: BlobStore, tmp_path: Path) -> None:
    size = 24 * MIB + 123
    source = Pattern(size)
    assert store.put_stream("big/blob", io.BufferedReader(source, 1 * MIB)) == size
    assert store.size("big/blob") == size
    out = hashlib.sha256()
    total = 0
    for piece in store.iter_bytes("big/blob"):
        assert len(piece) <= MIB
        out.update(piece)
        total += len(piece)
    assert total == size and out.hexdigest() == source.digest.hexdigest()
    store.download("big/blob", tmp_path / "copy")
    assert (tmp_path / "copy").stat().st_size == size


def test_put_file_and_move(store: BlobStore, tmp_path: Path) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(b"abc" * 1000)
    store.put_file("k/copied", local)
    assert local.exists() and store.read_bytes("k/copied") == b"abc" * 1000
    store.put_file("k/moved", local, move=True)
    assert not local.exists() and store.size("k/moved") == 3000


def test_prefix_list_and_delete(store: BlobStore) -> None:
    for key in ("kb/t1/a/1", "kb/t1/a/sub/2", "kb/t1/ab/3", "kb/t2/a/4"):
        store.put_bytes(key, key.encode())
    listed = store.list("kb/t1/a/")
    assert [i.key for i in listed] == ["kb/t1/a/1", "kb/t1/a/sub/2"]  # not kb/t1/ab/
    assert [i.size for i in listed] == [len("kb/t1/a/1"), len("kb/t1/a/sub/2")]
    assert all(i.modified > 0 for i in listed)
    assert store.list("kb/none/") == []
    with pytest.raises(InvalidKey):
        store.list("kb/t1/a")  # a prefix is a folder: it ends with '/'
    assert store.delete_prefix("kb/t1/a/") == 2
    assert [i.key for i in store.list("kb/")] == ["kb/t1/ab/3", "kb/t2/a/4"]
    with pytest.raises(ValueError):
        store.delete_prefix("")


def test_folder_publish_and_materialise(store: BlobStore, tmp_path: Path) -> None:
    model = tmp_path / "trained"
    (model / "tokenizer").mkdir(parents=True)
    (model / "config.json").write_text('{"名字": 1}')
    (model / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    version = publish(store, model, "models/mdl_1/")
    assert version == folder_version(model)
    cache = tmp_path / "cache"
    local = materialise(store, "models/mdl_1/", version, cache)
    assert (local / "config.json").read_text() == '{"名字": 1}'
    assert (local / "tokenizer" / "vocab.txt").read_text() == "a\nb\n"
    # a new version replaces the old one
    (model / "config.json").write_text('{"名字": 2}')
    second = publish(store, model, "models/mdl_1/")
    assert second != version
    again = materialise(store, "models/mdl_1/", second, cache)
    assert (again / "config.json").read_text() == '{"名字": 2}'
    if isinstance(store, DirectoryStore):
        assert not cache.exists()  # read in place: no copy
    else:
        assert again == cache / "models" / "mdl_1" / second
        assert not local.exists()  # the older version's copy is gone


def test_directory_store_reads_the_layout_before_it(tmp_path: Path) -> None:
    """A data directory written before the store existed: its files are found by key."""
    data = tmp_path / "data"
    (data / "files" / "t1").mkdir(parents=True)
    (data / "files" / "t1" / "file-old").write_bytes(b"old bytes")
    store = storage_for(Settings(data_dir=data))
    assert store.read_bytes("files/t1/file-old") == b"old bytes"
    assert store.local_path("files/t1/file-old") == (data / "files" / "t1" / "file-old").resolve()


def test_directory_store_ignores_links_out_of_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    store = DirectoryStore(root)
    with pytest.raises(BlobNotFound):
        store.read_bytes("link/secret")


def test_s3_store_never_shows_its_secret(moto_endpoint: str, tmp_path: Path) -> None:
    settings = s3_settings(tmp_path, moto_endpoint, "any-bucket")
    secret = s3_env(moto_endpoint, "any-bucket")["AIGC_S3_SECRET_ACCESS_KEY"]
    assert secret not in repr(settings) and secret not in str(settings.model_dump())
    assert secret not in repr(storage_for(settings))
