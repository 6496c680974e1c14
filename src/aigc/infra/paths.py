"""Server-side paths named by people (training data, model folders) stay under import roots.

Tenants upload files instead; only the CLI and the platform admin may name a server path, and
only one that resolves (symlinks followed) inside a configured root.

A folder is read through ``files_under``: every entry is judged by its *real* path (links
followed), so a link inside an allowed folder cannot lead out of it (``sub/deep.txt ->
/etc/secret``), whether it links a file or a directory. What leaves the folder, loops, or is
not a regular file (a FIFO would block the reader) is skipped with a reason for the user.
Callers open the real path the walk yields (``open_inside``), never the link, and the opened
file is checked again, so swapping a link in between does not lead out either.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from aigc.errors import PermissionDenied, refused

LEAVES = "a link that leads outside the folder"


def check_import_path(path: str | Path, import_roots: list[Path]) -> Path:
    resolved = Path(path).expanduser().resolve()
    for root in import_roots:
        if resolved.is_relative_to(root.expanduser().resolve()):
            return resolved
    allowed = ", ".join(str(r) for r in import_roots) or "none configured (AIGC_IMPORT_ROOTS)"
    raise refused(
        PermissionDenied,
        "outside_import_roots",
        "The path '{path}' is outside the import roots ({allowed})",
        param="path",
        path=str(path),
        allowed=allowed,
    )


def files_under(folder: Path) -> Iterator[tuple[Path, str | None]]:
    """Every regular file really inside ``folder``, recursively, in a stable order.

    Yields ``(real_path, None)`` for a file to read, ``(shown_path, reason)`` for one skipped
    (``shown_path`` relative to ``folder``: what the user named, not where a link points).
    Links that stay inside are followed; each real file is yielded once.
    """
    root = Path(os.path.realpath(folder))
    seen_dirs: set[Path] = set()
    seen_files: set[Path] = set()

    def walk(directory: Path, shown: Path) -> Iterator[tuple[Path, str | None]]:
        seen_dirs.add(directory)
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            yield shown, f"cannot be read ({exc.strerror})"
            return
        for name in names:
            entry, entry_shown = directory / name, shown / name
            real = Path(os.path.realpath(entry))
            if not real.is_relative_to(root):
                yield entry_shown, LEAVES
                continue
            try:
                mode = os.stat(real).st_mode
            except OSError:
                yield entry_shown, "a broken link"
                continue
            if stat.S_ISDIR(mode):
                if real in seen_dirs:
                    continue  # a link back to a folder already read (or a loop)
                yield from walk(real, entry_shown)
            elif not stat.S_ISREG(mode):
                yield entry_shown, "not a regular file"
            elif real not in seen_files:
                seen_files.add(real)
                yield real, None

    yield from walk(root, Path())


def open_inside(path: Path, folder: Path) -> BinaryIO:
    """Open ``path`` (a real path from ``files_under``) for reading, refusing a link put there
    since, and checking where the opened file really is (where the OS can tell)."""
    # O_NONBLOCK: a FIFO swapped in would otherwise block the open; no effect on files.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        opened = Path(f"/proc/self/fd/{fd}")
        if opened.is_symlink() and not Path(os.readlink(opened)).is_relative_to(
            os.path.realpath(folder)
        ):
            raise refused(
                PermissionDenied,
                "link_leaves_folder",
                f"'{{name}}' is {LEAVES}",
                param="path",
                name=path.name,
            )
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refused(
                PermissionDenied,
                "not_regular_file",
                "'{name}' is not a regular file",
                param="path",
                name=path.name,
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
