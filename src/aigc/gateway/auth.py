"""Who is calling: API keys (SHA-256 at rest, shown once), passwords (argon2), sessions.

How a caller is recognised; what a recognised caller may do (roles, ``Principal``, the
``require_*`` checks) is ``aigc.access``, below every package.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal, weaker_role
from aigc.errors import AuthenticationFailed, refused
from aigc.infra.schema import ApiKey, Tenant, User, UserSession

KEY_PREFIX = "sk-aigc-"
SESSION_PREFIX = "sess-aigc-"  # console sign-ins; sent as a bearer by the console only
_passwords = PasswordHasher()


def new_api_key() -> str:
    """A fresh key secret: 256 bits of randomness after the recognisable prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(secret: str) -> str:
    """Keys are random and long, so a fast hash is safe and keeps auth off the hot path."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _passwords.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def account_disabled() -> AuthenticationFailed:
    """One refusal for a disabled user or organization behind a key or a session."""
    return refused(
        AuthenticationFailed,
        "account_disabled",
        "This account is disabled",
        code="account_disabled",
    )


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise refused(
            AuthenticationFailed,
            "api_key_missing",
            "You didn't provide an API key. Send it as 'Authorization: Bearer sk-aigc-...'",
            code="missing_api_key",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise refused(
            AuthenticationFailed,
            "authorization_not_bearer",
            "The Authorization header must be 'Bearer <API key>'",
        )
    return token.strip()


def authenticate_key(session: Session, secret: str, now: datetime | None = None) -> Principal:
    """Resolve a key secret to its principal, refusing unknown, revoked and expired keys.

    A key bound to a user is that user's credential: refused while the user is disabled, and
    never more than the user's current role or platform rights (the lower of the key's role and
    the user's). A key with no user acts with its own role; only admins of at least that role
    create or revoke such keys.
    """
    if secret.startswith(SESSION_PREFIX):
        return authenticate_session(session, secret, now)
    row = session.execute(
        select(ApiKey, Tenant, User)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .outerjoin(User, User.id == ApiKey.user_id)
        .where(ApiKey.secret_hash == hash_api_key(secret))
    ).first()
    if row is None:
        raise refused(AuthenticationFailed, "api_key_incorrect", "Incorrect API key provided")
    key, tenant, user = row
    now = now or datetime.now(UTC)
    if key.revoked_at is not None:
        raise refused(
            AuthenticationFailed,
            "api_key_revoked",
            "This API key has been revoked",
            code="revoked_api_key",
        )
    if key.expires_at is not None and as_utc(key.expires_at) <= now:
        raise refused(
            AuthenticationFailed,
            "api_key_expired",
            "This API key has expired",
            code="expired_api_key",
        )
    if tenant.disabled:
        raise refused(
            AuthenticationFailed,
            "organization_disabled",
            "This organization is disabled",
            code="tenant_disabled",
        )
    role, platform_admin = key.role, key.platform_admin
    if user is not None:
        if user.disabled:
            raise account_disabled()
        role = weaker_role(role, user.role)
        platform_admin = platform_admin and user.platform_admin
    return Principal(
        tenant_id=key.tenant_id,
        role=role,
        key_id=key.id,
        user_id=key.user_id,
        platform_admin=platform_admin,
        allowed_models=tuple(key.allowed_models) if key.allowed_models is not None else None,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        daily_token_budget=tenant.daily_token_budget,
        expires_at=as_utc(key.expires_at) if key.expires_at is not None else None,
    )


def authenticate_session(session: Session, secret: str, now: datetime | None = None) -> Principal:
    """A console sign-in acts with its user's role until sign-out, expiry or a disabled user."""
    row = session.execute(
        select(UserSession, User, Tenant)
        .join(User, User.id == UserSession.user_id)
        .join(Tenant, Tenant.id == UserSession.tenant_id)
        .where(UserSession.secret_hash == hash_api_key(secret))
    ).first()
    now = now or datetime.now(UTC)
    if row is None or row[0].revoked_at is not None or as_utc(row[0].expires_at) <= now:
        raise AuthenticationFailed("Your session has ended; sign in again", code="session_ended")
    _, user, tenant = row
    if user.disabled or tenant.disabled:
        raise account_disabled()
    return Principal(
        tenant_id=user.tenant_id,
        role=user.role,
        user_id=user.id,
        platform_admin=user.platform_admin,
        daily_token_budget=tenant.daily_token_budget,
    )


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
