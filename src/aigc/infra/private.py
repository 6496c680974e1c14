"""The data directory and the database files are the server's alone, whatever the umask.

``aigc.db`` holds password hashes, conversations and chunk text; the directory also holds
``secret.key`` and ``fernet.key``. With a umask of 022 they used to be world-readable (the
directory 0755, the database 0644). Here: the directory is made 0700, and a SQLite database
file is created 0600 before anything opens it (SQLite gives its ``-wal`` and ``-shm`` files
the database file's mode), with existing ones tightened at every start. ``aigc serve`` also
sets the process umask to 077, so whatever it creates later (uploads, images, models) is
private too.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

DIR_MODE = 0o700
FILE_MODE = 0o600
SERVE_UMASK = 0o077
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
SECRET_FILES = ("secret.key", "fernet.key")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    for name in SECRET_FILES:
        secret = path / name
        if secret.is_file() and not secret.is_symlink():
            os.chmod(secret, FILE_MODE)
    return path


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None  # a URI filename: its owner chose its options
    return Path(parsed.database)


def private_sqlite(url: str) -> None:
    """Create the SQLite file 0600 if missing; tighten it and its side files if present."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    os.chmod(path, FILE_MODE)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.is_file():
            os.chmod(side, FILE_MODE)
