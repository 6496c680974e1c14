"""The blob store interface: what every backend (a directory, an S3 bucket) answers.

Everything a gateway instance needs besides the database and Redis (uploaded files, document
sources, trained models, job checkpoints, generated images) is kept under a *key*, a relative
path such as ``files/<tenant>/<file id>``. Keys are always made by the platform from ids it
created; ``check_key`` still refuses anything that could leave the store's root (``..``, an
absolute path, control characters, empty parts), so no caller-chosen text ever becomes a path.

Big objects stream: ``put_stream`` and ``put_file`` never hold a whole file in memory, and
``open`` reads a piece at a time.
"""

from __future__ import annotations

import abc
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aigc.errors import NotFound

MAX_KEY = 1024  # S3's limit, in UTF-8 bytes
CHUNK = 1024 * 1024


class BlobNotFound(NotFound):
    """No object under this key (a 404 if it reaches a route unhandled)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No stored object '{key}'")
        self.key = key


class InvalidKey(ValueError):
    """A key that is not a plain relative path: a bug in the caller, never user input."""


def check_key(key: str) -> str:
    """``key`` if it is a clean relative path (``a/b/c``), else ``InvalidKey``."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("A blob key must be a non-empty string")
    if len(key.encode()) > MAX_KEY:
        raise InvalidKey(f"A blob key is at most {MAX_KEY} bytes")
    if key.startswith("/") or "\\" in key:
        raise InvalidKey(f"A blob key is a relative path with '/' between parts: {key!r}")
    if any(unicodedata.category(ch)[0] == "C" for ch in key):
        raise InvalidKey(f"A blob key has no control characters: {key!r}")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise InvalidKey(f"A blob key has no empty, '.' or '..' parts: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A "folder" prefix: ``""`` (everything) or a valid key followed by ``/``."""
    if prefix == "":
        return prefix
    if not prefix.endswith("/"):
        raise InvalidKey(f"A prefix names a folder and ends with '/': {prefix!r}")
    check_key(prefix[:-1])
    return prefix


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: float  # Unix time of the last write


class BlobStore(abc.ABC):
    """Objects by key. Writes are atomic: a reader sees the old object or the new, never half."""

    name: str  # "directory" or "s3", for logs and docs

    # --- writing ---------------------------------------------------------------------------

    @abc.abstractmethod
    def put_stream(self, key: str, stream: BinaryIO) -> int:
        """Store what ``stream`` reads until EOF under ``key``; the bytes written."""

    @abc.abstractmethod
    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        """Store a local file under ``key``; with ``move`` the local file is gone afterwards
        (renamed into place when it can be: no copy)."""

    def put_bytes(self, key: str, data: bytes) -> None:
        import io

        self.put_stream(key, io.BytesIO(data))

    def upload_dir(self, prefix: str, folder: Path) -> int:
        """Every regular file under ``folder`` to ``prefix`` + its relative path; how many."""
        check_prefix(prefix)
        count = 0
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and not path.is_symlink():
                self.put_file(prefix + path.relative_to(folder).as_posix(), path)
                count += 1
        return count

    # --- reading ---------------------------------------------------------------------------

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (close it); ``BlobNotFound`` if none."""

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def iter_bytes(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        """The object a piece at a time (opened at once, so a missing key fails here)."""
        fh = self.open(key)

        def pieces() -> Iterator[bytes]:
            with fh:
                while piece := fh.read(chunk):
                    yield piece

        return pieces()

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """The object's length in bytes; ``BlobNotFound`` if none."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[BlobInfo]:
        """Every object under a folder prefix (recursively), sorted by key."""

    @abc.abstractmethod
    def download(self, key: str, dest: Path) -> None:
        """Copy the object to the local file ``dest`` (atomically: a temp file renamed)."""

    def download_prefix(self, prefix: str, folder: Path) -> int:
        """Copy every object under ``prefix`` into ``folder`` (keys relative to the prefix);
        how many."""
        infos = self.list(check_prefix(prefix))
        for info in infos:
            dest = Path(folder, *info.key[len(prefix) :].split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.download(info.key, dest)
        return len(infos)

    def local_path(self, key: str) -> Path | None:
        """The object's (or a folder prefix's, without the final '/') own path on this machine
        when the backend is a directory, so readers can skip a copy; None otherwise."""
        return None

    # --- removing --------------------------------------------------------------------------

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the object; whether there was one (a missing key is not an error)."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a folder prefix; how many."""
