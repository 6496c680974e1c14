"""Who is calling: API keys (SHA-256 at rest, shown once), passwords (argon2), roles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.gateway.errors import AuthenticationFailed, PermissionDenied
from aigc.infra.schema import ApiKey, Tenant, User, UserSession

KEY_PREFIX = "sk-aigc-"
SESSION_PREFIX = "sess-aigc-"  # console sign-ins; sent as a bearer by the console only
ROLES = ("viewer", "member", "admin", "owner")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
_passwords = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as every later stage sees it."""

    tenant_id: str
    role: str
    key_id: str | None = None
    user_id: str | None = None
    platform_admin: bool = False
    allowed_models: tuple[str, ...] | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    daily_token_budget: int | None = None

    def at_least(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    @property
    def limited(self) -> bool:
        return bool(self.rpm_limit or self.tpm_limit or self.daily_token_budget)


def role_rank(role: str) -> int:
    """0 for viewer up to 3 for owner; unknown roles rank below every known one."""
    return _RANK.get(role, -1)


def weaker_role(a: str, b: str) -> str:
    """The lower of two roles: what a user-bound key may do is capped by its user's role."""
    return a if role_rank(a) <= role_rank(b) else b


def require_role(principal: Principal, role: str) -> None:
    if not principal.at_least(role):
        raise PermissionDenied(
            f"This action needs the '{role}' role; your role is '{principal.role}'"
        )


def require_model_allowed(principal: Principal, model: str) -> None:
    """A key's ``allowed_models`` holds on every route that takes a model (403 otherwise)."""
    if principal.allowed_models is not None and model not in principal.allowed_models:
        raise PermissionDenied(
            f"This API key may not use the model '{model}'",
            param="model",
            code="model_not_allowed",
        )


def require_platform_admin(principal: Principal) -> None:
    if not principal.platform_admin:
        raise PermissionDenied("This action is for the platform administrator only")


def check_role_name(role: str) -> str:
    from aigc.gateway.errors import InvalidRequest

    if role not in _RANK:
        raise InvalidRequest(f"Unknown role '{role}'; roles are {', '.join(ROLES)}", param="role")
    return role


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


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer sk-aigc-...'",
            code="missing_api_key",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("The Authorization header must be 'Bearer <API key>'")
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
        raise AuthenticationFailed("Incorrect API key provided")
    key, tenant, user = row
    now = now or datetime.now(UTC)
    if key.revoked_at is not None:
        raise AuthenticationFailed("This API key has been revoked", code="revoked_api_key")
    if key.expires_at is not None and as_utc(key.expires_at) <= now:
        raise AuthenticationFailed("This API key has expired", code="expired_api_key")
    if tenant.disabled:
        raise AuthenticationFailed("This organization is disabled", code="tenant_disabled")
    role, platform_admin = key.role, key.platform_admin
    if user is not None:
        if user.disabled:
            raise AuthenticationFailed("This account is disabled", code="account_disabled")
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
        raise AuthenticationFailed("This account is disabled", code="account_disabled")
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
