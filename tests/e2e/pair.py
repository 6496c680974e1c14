"""Two `aigc serve` instances that share one database and one blob store, nothing else.

Each has its own data directory (its caches), as two machines would; they share the database
URL, the server secret (audit chain, signed links) and the encryption key, as an operator
configures every instance of one deployment. ``storage`` holds the AIGC_* settings of the
shared store: a shared directory, or an S3 bucket.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from tests.e2e.server import Server, new_admin_key


@contextmanager
def two_instances(
    root: Path, database_url: str, storage: dict[str, str], **env: str
) -> Iterator[tuple[Server, Server]]:
    shared = {
        "AIGC_DATABASE_URL": database_url,
        "AIGC_SECRET_KEY": secrets.token_hex(32),
        "AIGC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        **storage,
        **env,
    }
    admin = new_admin_key()
    with ExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            server = Server(root / name / "data", admin, **shared)
            (root / name).mkdir(parents=True, exist_ok=True)
            stack.callback(server.stop)
            servers.append(server.start())
        yield servers[0], servers[1]
