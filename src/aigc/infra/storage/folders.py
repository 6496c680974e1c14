"""Whole folders (a trained model, a job's checkpoints) in the blob store, and their local cache.

A folder is published under a prefix with a *version*: a hash of its files' names and
contents, which the caller records in the database (a model record's config). An instance that
needs the folder asks ``materialise`` for that version: with a directory backend it reads the
store's own folder (no copy: the same disk or a shared volume); otherwise it downloads the
prefix once into ``cache_root/<prefix>/<version>`` and reuses it until the database names
another version. The cache is only a cache: deleting it costs a download, nothing else.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from aigc.infra.storage.base import CHUNK, BlobStore, check_prefix


def folder_version(folder: Path) -> str:
    """SHA-256 over every regular file's relative path and content hash, in a stable order."""
    outer = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            while piece := fh.read(CHUNK):
                inner.update(piece)
        outer.update(f"{path.relative_to(folder).as_posix()}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def publish(store: BlobStore, folder: Path, prefix: str) -> str:
    """Put ``folder`` under ``prefix`` (replacing what was there); its version.

    With a directory store whose folder for ``prefix`` *is* ``folder`` (the embedded default,
    where jobs write into the store's root), there is nothing to copy.
    """
    check_prefix(prefix)
    version = folder_version(folder)
    own = store.local_path(prefix)
    if own is not None and own.resolve() == Path(folder).resolve():
        return version
    if store.list(prefix):
        store.delete_prefix(prefix)
    store.upload_dir(prefix, Path(folder))
    return version


def materialise(store: BlobStore, prefix: str, version: str, cache_root: Path) -> Path:
    """A local folder holding ``prefix`` at ``version``: the store's own folder when it is a
    directory, else a cached download (fetched into a temp folder and renamed, so readers never
    see half a model; older versions of the same prefix are removed)."""
    check_prefix(prefix)
    own = store.local_path(prefix)
    if own is not None and own.is_dir():
        return own
    if not version or "/" in version or version.startswith("."):
        raise ValueError(f"not a folder version: {version!r}")
    base = Path(cache_root, *prefix.rstrip("/").split("/"))
    target = base / version
    if target.is_dir():
        return target
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=base, prefix=".blob-"))
    try:
        if store.download_prefix(prefix, work) == 0:
            raise FileNotFoundError(f"nothing is stored under '{prefix}'")
        try:
            work.rename(target)
        except OSError:
            if not target.is_dir():  # not another thread or process that got there first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in base.iterdir():
        if old.name != target.name and not old.name.startswith(".blob-"):
            shutil.rmtree(old, ignore_errors=True)
    return target
