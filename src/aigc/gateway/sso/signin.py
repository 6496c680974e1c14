"""One SSO sign-in from start to session: the pending state, the callback's checks, the
just-in-time user, the mapping applied, and what the audit log is told.

The order of the callback's checks is the protocol's: the pending sign-in is taken by its
``state`` (and deleted, so it is used once), it must belong to this browser (the SHA-256 of the
secret in the browser's ``aigc_sso`` cookie, compared in constant time), the provider's answer
must not be an error and must name the right issuer (``iss``, RFC 9207, when sent), the code is
exchanged with the PKCE verifier, and the ID token is validated (``oidc.validate_id_token``).
Only then is anyone looked up or created, always within the provider's organization and by the
provider's ``sub``: an existing account with the same name or e-mail is never taken over, and
nobody signed in by organization A's provider ever becomes a user of organization B.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.common.urls import add_params_to_uri
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aigc.config import Settings
from aigc.gateway import sessions
from aigc.gateway.auth import as_utc
from aigc.gateway.sso import mapping, oidc, providers
from aigc.infra.db import Database
from aigc.infra.schema import Group, GroupMember, Tenant, User, new_id
from aigc.infra.sso_tables import SsoIdentity, SsoPending, SsoProvider

PENDING_LIFETIME = timedelta(minutes=10)
NO_PASSWORD = "!sso"  # not an argon2 hash: a password check against it always fails


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_browser_secret() -> str:
    return secrets.token_urlsafe(32)


def endpoint_of(row: SsoProvider) -> oidc.Endpoint:
    return oidc.Endpoint(row.issuer, row.client_id, row.allow_private_network)


@dataclass
class Outcome:
    """How a callback ended: a session secret, or the reason for refusing; and the audit notes."""

    secret: str | None = None
    reason: str | None = None
    next_path: str = "/chat"
    provider_id: str | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    notes: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (event, details)

    def refuse(self, reason: str) -> Outcome:
        self.reason = reason
        self.notes.append(("sso.refused", (f"reason:{reason}",)))
        return self


def begin(
    db: Database,
    provider_id: str,
    browser_secret: str,
    next_path: str,
    redirect_uri: str,
    now: datetime | None = None,
) -> str | None:
    """The provider's authorization URL for a new sign-in (None: no such enabled provider)."""
    now = now or datetime.now(UTC)
    with db.session() as session:
        row = _usable_provider(session, provider_id)
        if row is None:
            return None
        endpoint, scopes, client_id = endpoint_of(row), list(row.scopes), row.client_id
        session.execute(delete(SsoPending).where(SsoPending.expires_at < now))
    metadata = oidc.discover(endpoint)
    request = oidc.authorization_request(metadata, client_id, redirect_uri, scopes)
    with db.session() as session:
        session.add(
            SsoPending(
                state_hash=digest(request.state),
                provider_id=provider_id,
                browser_hash=digest(browser_secret),
                nonce=request.nonce,
                code_verifier=request.code_verifier,
                next_path=next_path,
                created_at=now,
                expires_at=now + PENDING_LIFETIME,
            )
        )
    return request.url


def _usable_provider(session: Session, provider_id: str) -> SsoProvider | None:
    row = session.scalar(
        select(SsoProvider)
        .join(Tenant, Tenant.id == SsoProvider.tenant_id)
        .where(
            SsoProvider.id == provider_id,
            SsoProvider.enabled.is_(True),
            Tenant.disabled.is_(False),
        )
    )
    return row


@dataclass(frozen=True)
class Callback:
    """What the provider sent back to the browser, and the browser's binding secret."""

    state: str
    code: str
    browser_secret: str
    error: str = ""
    iss: str = ""
    user_agent: str = ""


def finish(
    db: Database, settings: Settings, callback: Callback, redirect_uri: str, now: datetime | None
) -> Outcome:
    """Check everything, then sign the person in (or say why not)."""
    now = now or datetime.now(UTC)
    out = Outcome()
    pending = _take_pending(db, callback.state)
    if pending is None or as_utc(pending["expires_at"]) <= now:
        return out.refuse("state_unknown")
    out.next_path, out.provider_id = pending["next_path"], pending["provider_id"]
    with db.session() as session:
        out.tenant_id = session.scalar(
            select(SsoProvider.tenant_id).where(SsoProvider.id == pending["provider_id"])
        )
        row = _usable_provider(session, pending["provider_id"])
        endpoint = endpoint_of(row) if row is not None else None
        secret = providers.client_secret(row, settings) if row is not None else ""
    if not hmac.compare_digest(pending["browser_hash"], digest(callback.browser_secret)):
        return out.refuse("browser_mismatch")
    if endpoint is None:
        return out.refuse("provider_disabled")
    if callback.error:
        return out.refuse("provider_error")
    if callback.iss and not hmac.compare_digest(callback.iss.encode(), endpoint.issuer.encode()):
        return out.refuse("issuer_mismatch")
    if not callback.code:
        return out.refuse("provider_error")
    try:
        metadata = oidc.discover(endpoint)
        tokens = oidc.exchange_code(
            endpoint, metadata, secret, callback.code, pending["code_verifier"], redirect_uri
        )
        claims = oidc.validate_id_token(
            endpoint,
            metadata,
            tokens["id_token"],
            pending["nonce"],
            tokens.get("access_token") if isinstance(tokens.get("access_token"), str) else None,
            settings.sso_clock_skew_s,
        )
    except oidc.OidcError as exc:
        return out.refuse(exc.reason)
    with db.session() as session:
        row = session.get(SsoProvider, pending["provider_id"])
        if row is None:
            return out.refuse("provider_disabled")
        return admit(session, row, claims, callback.user_agent, now, out)


def _take_pending(db: Database, state: str) -> dict[str, Any] | None:
    """The pending sign-in of ``state``, deleted in the same statement: one use only."""
    if not state or len(state) > 200:
        return None
    with db.session() as session:
        found = session.execute(
            delete(SsoPending)
            .where(SsoPending.state_hash == digest(state))
            .returning(
                SsoPending.provider_id,
                SsoPending.browser_hash,
                SsoPending.nonce,
                SsoPending.code_verifier,
                SsoPending.next_path,
                SsoPending.expires_at,
            )
        ).first()
    return dict(found._mapping) if found is not None else None


def admit(
    session: Session,
    provider: SsoProvider,
    claims: dict[str, Any],
    user_agent: str,
    now: datetime,
    out: Outcome,
) -> Outcome:
    """The validated person into the provider's organization: checks, user, role, groups."""
    out.provider_id, out.tenant_id = provider.id, provider.tenant_id
    refusal = mapping.email_refusal(claims, provider.allowed_domains)
    if refusal:
        return out.refuse(refusal)
    mapped = mapping.apply_rules(provider.rules, provider.default_role, claims)
    if mapped.role is None:
        return out.refuse("no_role")
    subject = str(claims["sub"])[:255]
    identity = session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.provider_id == provider.id, SsoIdentity.subject == subject
        )
    )
    user = session.get(User, identity.user_id) if identity is not None else None
    created = user is None
    if user is None:
        user = _new_user(session, provider, claims, mapped.role)
        if identity is None:
            identity = SsoIdentity(
                id=new_id("sid_"),
                tenant_id=provider.tenant_id,
                provider_id=provider.id,
                subject=subject,
                user_id=user.id,
                created_at=now,
            )
            session.add(identity)
        else:  # its user was deleted (where the database does not cascade): a new one
            identity.user_id = user.id
    assert identity is not None
    if user.tenant_id != provider.tenant_id:  # cannot happen: identities are per provider
        return out.refuse("tenant_mismatch")
    out.user_id = user.id
    if user.disabled:
        return out.refuse("account_disabled")
    if not created and user.role != mapped.role:
        out.notes.append(("sso.role_change", (f"role:{user.role}->{mapped.role}",)))
        user.role = mapped.role
    changes = _sync_groups(session, user, mapped)
    if changes:
        out.notes.append(("sso.groups_change", tuple(changes)))
    identity.last_sign_in_at = now
    session.flush()
    out.secret = sessions.open_session(session, user, user_agent, now, provider.id)
    details = [f"provider:{provider.id}", f"role:{user.role}"] + (["new_user"] if created else [])
    out.notes.insert(0, ("sso.sign_in", tuple(details)))
    return out


def _new_user(session: Session, provider: SsoProvider, claims: dict[str, Any], role: str) -> User:
    """A just-in-time user in the provider's organization, without a usable password."""
    base = ""
    for claim in ("email", "preferred_username", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            base = value.strip()[:180]
            break
    username = base
    while session.scalar(select(User.id).where(User.username == username)) is not None:
        username = f"{base}~{secrets.token_hex(2)}"  # the name is taken (here or elsewhere)
    name = claims.get("name")
    user = User(
        id=new_id("usr_"),
        tenant_id=provider.tenant_id,
        username=username,
        display_name=(name.strip()[:200] if isinstance(name, str) else "") or username,
        password_hash=NO_PASSWORD,
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def _sync_groups(session: Session, user: User, mapped: mapping.Mapped) -> list[str]:
    """Managed groups as the claims say: joined where matched, left where not."""
    if not mapped.managed:
        return []
    groups = {
        g.name: g
        for g in session.scalars(
            select(Group).where(Group.tenant_id == user.tenant_id, Group.name.in_(mapped.managed))
        )
    }
    member_of = set(
        session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user.id))
    )
    changes: list[str] = []
    for name in mapped.managed:
        group = groups.get(name)
        wanted = name in mapped.groups
        if wanted and group is None:
            group = Group(id=new_id("grp_"), tenant_id=user.tenant_id, name=name)
            session.add(group)
            session.flush()
        if group is None:
            continue
        if wanted and group.id not in member_of:
            session.add(GroupMember(group_id=group.id, user_id=user.id))
            changes.append(f"groups:+{name}")
        elif not wanted and group.id in member_of:
            session.execute(
                delete(GroupMember).where(
                    GroupMember.group_id == group.id, GroupMember.user_id == user.id
                )
            )
            changes.append(f"groups:-{name}")
    return changes


def end_session_url(db: Database, provider_id: str, post_logout_redirect_uri: str) -> str | None:
    """Where to send the browser to end the session at the provider too (None: it has no
    ``end_session_endpoint``, or cannot be reached; the console session is over anyway)."""
    with db.session() as session:
        row = session.get(SsoProvider, provider_id)
        if row is None:
            return None
        endpoint = endpoint_of(row)
    try:
        metadata = oidc.discover(endpoint)
    except oidc.OidcError:
        return None
    if not metadata.end_session_endpoint:
        return None
    return str(
        add_params_to_uri(
            metadata.end_session_endpoint,
            {"client_id": endpoint.client_id, "post_logout_redirect_uri": post_logout_redirect_uri},
        )
    )
