"""Console sign-in: password check with lockout, and sessions that end at sign-out or expiry.

A session is a random secret in an HttpOnly cookie; the database keeps only its SHA-256, like an
API key. Repeated failures lock the account for a while, so passwords cannot be guessed online.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.gateway.auth import SESSION_PREFIX, as_utc, hash_api_key, hash_password, verify_password
from aigc.infra.schema import Tenant, User, UserSession, new_id

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
# Compared against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt: a secret for the cookie, or why there is none."""

    secret: str | None
    error: str | None = None  # "invalid" | "locked" | "disabled"
    user_id: str | None = None
    locked_until: datetime | None = None


def sign_in(
    session: Session,
    username: str,
    password: str,
    user_agent: str = "",
    now: datetime | None = None,
) -> SignIn:
    """Check the password; count failures (the caller commits them even when refusing)."""
    now = now or datetime.now(UTC)
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return SignIn(None, "invalid")
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        return SignIn(None, "locked", user.id, as_utc(user.locked_until))
    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.failed_logins = 0
            user.locked_until = now + LOCKOUT
            return SignIn(None, "locked", user.id, user.locked_until)
        return SignIn(None, "invalid", user.id)
    tenant = session.get(Tenant, user.tenant_id)
    if user.disabled or tenant is None or tenant.disabled:
        return SignIn(None, "disabled", user.id)
    user.failed_logins = 0
    user.locked_until = None
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id=new_id("ses_"),
            tenant_id=user.tenant_id,
            user_id=user.id,
            secret_hash=hash_api_key(secret),
            user_agent=user_agent[:300],
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return SignIn(secret, None, user.id)


def sign_out(session: Session, secret: str, now: datetime | None = None) -> None:
    """End a session; unknown or already ended secrets are ignored (sign-out always succeeds)."""
    row = session.scalar(select(UserSession).where(UserSession.secret_hash == hash_api_key(secret)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
