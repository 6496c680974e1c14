"""Console sign-in: password check with lockout, and sessions that end at sign-out or expiry.

A session is a random secret in an HttpOnly cookie; the database keeps only its SHA-256, like an
API key. Repeated failures lock the account for a while, so passwords cannot be guessed online.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from aigc.gateway.auth import SESSION_PREFIX, as_utc, hash_api_key, hash_password, verify_password
from aigc.infra.db import rowcount
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
    error: str | None = None  # "invalid" | "locked" | "disabled" | "sso_only"
    user_id: str | None = None
    locked_until: datetime | None = None


def sign_in(
    session: Session,
    username: str,
    password: str,
    user_agent: str = "",
    now: datetime | None = None,
) -> SignIn:
    """Check the password under the lockout; commits the attempt count before the slow check.

    Each attempt first claims a slot in one atomic ``UPDATE`` (so parallel attempts, on this
    instance or another, each see their own count): the first ``MAX_FAILURES`` attempts of a
    window are checked, every later one is refused unchecked and (re)sets the lock. The claim is
    committed before argon2 runs, so no database lock is held during the check.
    """
    now = now or datetime.now(UTC)
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return SignIn(None, "invalid")
    refused, locked_until = check_password(session, user, password, now)
    if refused is not None:
        return SignIn(None, refused, user.id, locked_until)
    tenant = session.get(Tenant, user.tenant_id)
    session.refresh(user)
    if user.disabled or tenant is None or tenant.disabled:
        return SignIn(None, "disabled", user.id)
    if tenant.passwords_disabled and not user.platform_admin:
        return SignIn(None, "sso_only", user.id)  # said only to whoever knows the password
    return SignIn(open_session(session, user, user_agent, now), None, user.id)


def check_password(
    session: Session, user: User, password: str, now: datetime | None = None
) -> tuple[str | None, datetime | None]:
    """``user``'s password checked under the lockout: (None, None) when right, else
    ("invalid", None) or ("locked", until). Sign-in and a change of one's own password both
    come here, so neither is a way to guess a password past the lockout."""
    now = now or datetime.now(UTC)
    attempt = _claim_attempt(session, user.id, now)
    if attempt is None:
        return "locked", _locked_until(session, user)
    if attempt > MAX_FAILURES:
        return "locked", _lock(session, user.id, now)
    if not verify_password(user.password_hash, password):
        if attempt == MAX_FAILURES:
            return "locked", _lock(session, user.id, now)
        return "invalid", None
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return None, None


def open_session(
    session: Session,
    user: User,
    user_agent: str = "",
    now: datetime | None = None,
    sso_provider_id: str | None = None,
) -> str:
    """A new console session for ``user`` (already authenticated): the cookie's secret."""
    now = now or datetime.now(UTC)
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
            sso_provider_id=sso_provider_id,
        )
    )
    session.flush()
    return secret


def _claim_attempt(session: Session, user_id: str, now: datetime) -> int | None:
    """Count one attempt atomically and commit it; None while the account is locked.

    A lock that has expired starts a fresh window (the count restarts at 1).
    """
    expired = User.locked_until.is_not(None) & (User.locked_until <= now)
    count = session.scalar(
        update(User)
        .where(User.id == user_id, User.locked_until.is_(None) | (User.locked_until <= now))
        .values(
            failed_logins=case((expired, 1), else_=func.coalesce(User.failed_logins, 0) + 1),
            locked_until=case((expired, None), else_=User.locked_until),
        )
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return count


def _lock(session: Session, user_id: str, now: datetime) -> datetime:
    """Lock the account for ``LOCKOUT`` from now (idempotent under parallel attempts)."""
    until = now + LOCKOUT
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(locked_until=until)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return until


def _locked_until(session: Session, user: User) -> datetime | None:
    session.refresh(user)
    return as_utc(user.locked_until) if user.locked_until is not None else None


def end_user_sessions(session: Session, user_id: str, now: datetime | None = None) -> int:
    """Sign a user out everywhere (password changed, account disabled); returns how many ended."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def sign_out(session: Session, secret: str, now: datetime | None = None) -> str | None:
    """End a session; unknown or already ended secrets are ignored (sign-out always succeeds).

    Returns the SSO provider the session came from, if any, so the caller can end the
    person's session there too."""
    row = session.scalar(select(UserSession).where(UserSession.secret_hash == hash_api_key(secret)))
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
    return row.sso_provider_id
