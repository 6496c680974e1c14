"""First start: the default organization, the platform-admin key and the owner's setup link.

The first admin key is shown once. On a terminal it is printed; otherwise (a service manager
capturing output into logs) it is written to a 0600 file instead, so it never sits in a log.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.config import Settings
from aigc.gateway import accounts
from aigc.gateway.auth import KEY_PREFIX, hash_api_key
from aigc.infra.schema import ApiKey, Meta
from aigc.infra.tenants import default_tenant

SETUP_META = "setup_token_sha256"
FIRST_KEY_META = "first_admin_key_issued"


def _meta(session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return row.value if row else None


def _set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value


def ensure_admin_key(session: Session, settings: Settings) -> None:
    """AIGC_ADMIN_KEY (for automation) becomes a platform-admin key of the default tenant."""
    secret = settings.admin_key.get_secret_value() if settings.admin_key else ""
    if not secret:
        return
    if not secret.startswith(KEY_PREFIX) or len(secret) < len(KEY_PREFIX) + 16:
        raise SystemExit(
            f"AIGC_ADMIN_KEY must start with '{KEY_PREFIX}' and have 16+ more characters"
        )
    if session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_api_key(secret))) is None:
        tenant = default_tenant(session)
        accounts.create_key(
            session,
            None,
            tenant_id=tenant.id,
            name="AIGC_ADMIN_KEY",
            role="owner",
            platform_admin=True,
            secret=secret,
        )
        _set_meta(session, FIRST_KEY_META, "env")


def new_setup_token(session: Session) -> str:
    token = secrets.token_urlsafe(24)
    _set_meta(session, SETUP_META, hashlib.sha256(token.encode()).hexdigest())
    return token


def check_setup_token(session: Session, token: str) -> bool:
    expected = _meta(session, SETUP_META)
    given = hashlib.sha256(token.encode()).hexdigest()
    return expected is not None and secrets.compare_digest(expected, given)


def finish_setup(session: Session) -> None:
    row = session.get(Meta, SETUP_META)
    if row is not None:
        session.delete(row)


def first_start(session: Session, settings: Settings) -> str | None:
    """Prepare a fresh install; return the once-only message for the operator, if any."""
    tenant = default_tenant(session)
    ensure_admin_key(session, settings)
    if accounts.has_owner(session):
        return None
    lines = []
    if _meta(session, FIRST_KEY_META) is None:
        _, secret = accounts.create_key(
            session,
            None,
            tenant_id=tenant.id,
            name="first admin key",
            role="owner",
            platform_admin=True,
        )
        _set_meta(session, FIRST_KEY_META, "printed")
        lines.append(f"First platform-admin API key (shown once, keep it safe):\n  {secret}")
    elif _meta(session, SETUP_META) is not None:
        return (
            "No owner account yet. Finish setup with the link printed at first start, run "
            "`aigc admin setup-url` for a new one, or `aigc admin create-user --role owner`."
        )
    token = new_setup_token(session)
    lines.append(
        f"Create the owner account at:\n  {settings.base_url}/setup?token={token}\n"
        "(or headless: aigc admin create-user --role owner --username NAME)"
    )
    return "\n".join(lines)


def announce(message: str, data_dir: Path) -> None:
    """Print on a terminal; otherwise keep secrets out of captured output via a 0600 file."""
    if sys.stdout.isatty():
        bar = "=" * 72
        print(f"\n{bar}\n{message}\n{bar}\n", flush=True)
        return
    if "sk-aigc-" not in message and "token=" not in message:
        print(message, flush=True)
        return
    path = data_dir / "first-run.txt"
    path.write_text(message + "\n", encoding="utf-8")
    path.chmod(0o600)
    print(
        f"First-run credentials written to {path} (mode 0600): read it, then delete it.", flush=True
    )
