"""The directory backend: keys are relative paths under one root folder.

The embedded default is the data directory itself, so a server upgraded from the layout before
this store existed finds every file where it left it (``files/<tenant>/<id>``, ...). On several
machines the root is a shared volume (NFS): its renames are atomic too, which is all the
writers here rely on.

Every write goes to a temporary file beside its target (``.blob-*.part``, skipped by
listings) and is renamed into place, so a crash leaves the old object or the new one.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from aigc.infra.storage.base import (
    CHUNK,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    check_key,
    check_prefix,
)

TEMP_PREFIXES = (".blob-", ".upload-")  # ours, and the staging files of uploads


class DirectoryStore(BlobStore):
    name = "directory"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*check_key(key).split("/"))
        # check_key already rules out '..'; a symlinked folder inside the root must not lead
        # out of it either.
        if not path.resolve().is_relative_to(self.root):
            raise BlobNotFound(key)
        return path

    def _temp_beside(self, path: Path) -> tuple[int, Path]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".blob-", suffix=".part")
        return fd, Path(name)

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        path = self._path(key)
        fd, tmp = self._temp_beside(path)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while piece := stream.read(CHUNK):
                    out.write(piece)
                    size += len(piece)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        target = self._path(key)
        source = Path(path)
        if source.resolve() == target.resolve():
            return  # already in place (the store's root is where it was written)
        if move:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                source.replace(target)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            # another file system: copy, then drop the source
        with source.open("rb") as fh:
            self.put_stream(key, fh)
        if move:
            source.unlink()

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path.stat().st_size

    def list(self, prefix: str = "") -> list[BlobInfo]:
        folder = self.root.joinpath(*check_prefix(prefix).split("/")) if prefix else self.root
        if not folder.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(TEMP_PREFIXES)]
            for name in filenames:
                if name.startswith(TEMP_PREFIXES):
                    continue
                path = Path(dirpath, name)
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue  # removed while we looked
                key = path.relative_to(self.root).as_posix()
                found.append(BlobInfo(key, st.st_size, st.st_mtime))
        return sorted(found, key=lambda info: info.key)

    def download(self, key: str, dest: Path) -> None:
        with self.open(key) as fh:
            dest = Path(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=dest.parent, prefix=".blob-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(fh, out, CHUNK)
                Path(name).replace(dest)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise

    def local_path(self, key: str) -> Path | None:
        return self._path(key.removesuffix("/"))

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except (FileNotFoundError, IsADirectoryError):
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        if not check_prefix(prefix):
            raise ValueError("delete_prefix('') would empty the whole store; name a folder")
        count = len(self.list(prefix))
        shutil.rmtree(self._path(prefix[:-1]), ignore_errors=True)
        return count
