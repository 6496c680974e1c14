"""Server-side paths named by people (training data, model folders) stay under import roots.

Tenants upload files instead; only the CLI and the platform admin may name a server path, and
only one that resolves (symlinks followed) inside a configured root.
"""

from __future__ import annotations

from pathlib import Path

from aigc.gateway.errors import PermissionDenied


def check_import_path(path: str | Path, import_roots: list[Path]) -> Path:
    resolved = Path(path).expanduser().resolve()
    for root in import_roots:
        if resolved.is_relative_to(root.expanduser().resolve()):
            return resolved
    allowed = ", ".join(str(r) for r in import_roots) or "none configured (AIGC_IMPORT_ROOTS)"
    raise PermissionDenied(
        f"The path '{path}' is outside the import roots ({allowed})", param="path"
    )
