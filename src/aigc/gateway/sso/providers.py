"""SSO providers per organization, configured by the platform administrator only.

Every function takes the caller and refuses anyone but the platform admin (403), then looks the
provider up *within the organization named in the path*: another organization's provider is a
404, as if it did not exist. The client secret is encrypted before it is stored and no view
ever holds it, nor its ciphertext: ``has_client_secret`` is all an answer says of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aigc.access import Principal, require_platform_admin
from aigc.config import Settings
from aigc.errors import Conflict, InvalidRequest, NotFound, refused, refused_value
from aigc.gateway.fields import SPACE
from aigc.infra import crypto, untrusted
from aigc.infra.schema import Tenant, new_id, unix_time
from aigc.infra.sso_tables import SsoProvider

DEFAULT_SCOPES = ("openid", "email", "profile")
MAX_RULES = 100
SCOPE_PATTERN = r"^[\x21\x23-\x5b\x5d-\x7e]+$"  # RFC 6749 scope-token
# a DNS name (Unicode labels allowed: 例子.中国), no scheme, port, path or @ (an @ in front,
# as in "@example.com", is forgiven); the same character class as fields.py for white space
_LABEL = f"[^{SPACE}./@:]{{1,63}}"
DOMAIN_PATTERN = f"^@?({_LABEL}\\.)+{_LABEL}$"
_SCOPE = re.compile(SCOPE_PATTERN)
_DOMAIN = re.compile(DOMAIN_PATTERN)


@dataclass
class ProviderSpec:
    """What the admin sends, already type-checked by the route's body model."""

    name: str
    issuer: str
    client_id: str
    client_secret: str | None = None
    scopes: list[str] = field(default_factory=lambda: list(DEFAULT_SCOPES))
    allowed_domains: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    default_role: str | None = "member"
    allow_private_network: bool = False
    enabled: bool = True


def check_issuer(issuer: str) -> str:
    """An issuer is an http(s) URL without credentials, query or fragment. Only https is ever
    fetched, unless the provider allows private networks (a provider on loopback or in the
    company network, e.g. in tests): ``oidc.py`` refuses http otherwise, at the first fetch."""
    issuer = issuer.strip()
    try:
        parts = urlsplit(issuer)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise refused_value("url", "The issuer is not a valid URL", param="issuer") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise refused_value(
            "issuer_not_https", "The issuer must be an https:// URL", param="issuer"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise refused_value(
            "url_with_credentials_query_or_fragment",
            "The issuer may not carry credentials, a query or a fragment",
            param="issuer",
        )
    return issuer


def check_scopes(scopes: list[str]) -> list[str]:
    out: list[str] = []
    for index, scope in enumerate(scopes):
        if not _SCOPE.match(scope):
            raise refused_value(
                "scope_invalid", "scopes[{index}] is not a valid scope", param="scopes", index=index
            )
        if scope not in out:
            out.append(scope)
    if "openid" not in out:
        out.insert(0, "openid")
    return out


def check_domains(domains: list[str]) -> list[str]:
    out: list[str] = []
    for index, domain in enumerate(domains):
        domain = domain.strip().lower()
        if not _DOMAIN.match(domain) or len(domain.lstrip("@")) > 253:
            raise refused_value(
                "domain_invalid",
                "allowed_domains[{index}] is not a domain name such as example.com",
                param="allowed_domains",
                index=index,
            )
        domain = domain.lstrip("@")
        if domain not in out:
            out.append(domain)
    return out


def check_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each rule: ``claim``, ``value`` and exactly one of ``role`` and ``group``."""
    if len(rules) > MAX_RULES:
        raise refused_value(
            "too_long", "At most {max_length} mapping rules", param="rules", max_length=MAX_RULES
        )
    out = []
    for index, rule in enumerate(rules):
        if bool(rule.get("role")) == bool(rule.get("group")):
            raise refused_value(
                "rule_role_or_group",
                "rules[{index}] must grant either a role or a group",
                param="rules",
                index=index,
            )
        out.append({k: v for k, v in rule.items() if v is not None})
    return out


def _tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise refused(
            NotFound,
            "organization_not_found",
            "No organization with id '{id}'",
            id=untrusted.field(tenant_id),
        )
    return tenant


def list_providers(session: Session, caller: Principal, tenant_id: str) -> list[SsoProvider]:
    require_platform_admin(caller)
    _tenant(session, tenant_id)
    return list(
        session.scalars(
            select(SsoProvider)
            .where(SsoProvider.tenant_id == tenant_id)
            .order_by(SsoProvider.created_at)
        )
    )


def get_provider(
    session: Session, caller: Principal, tenant_id: str, provider_id: str
) -> SsoProvider:
    require_platform_admin(caller)
    row = session.scalar(
        select(SsoProvider).where(SsoProvider.id == provider_id, SsoProvider.tenant_id == tenant_id)
    )
    if row is None:
        raise refused(
            NotFound,
            "sso_provider_not_found",
            "No SSO provider with id '{id}'",
            id=untrusted.field(provider_id),
        )
    return row


def create_provider(
    session: Session, caller: Principal, tenant_id: str, spec: ProviderSpec, settings: Settings
) -> SsoProvider:
    require_platform_admin(caller)
    _tenant(session, tenant_id)
    if not spec.client_secret:
        raise InvalidRequest(
            "client_secret is required",
            param="client_secret",
            code="missing_required_parameter",
        )
    now = datetime.now(UTC)
    row = SsoProvider(
        id=new_id("sso_"),
        tenant_id=tenant_id,
        name=spec.name,
        issuer=check_issuer(spec.issuer),
        client_id=spec.client_id,
        client_secret_enc=crypto.encrypt(spec.client_secret, settings),
        scopes=check_scopes(spec.scopes),
        allowed_domains=check_domains(spec.allowed_domains),
        rules=check_rules(spec.rules),
        default_role=spec.default_role,
        allow_private_network=spec.allow_private_network,
        enabled=spec.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    _flush_unique(session, spec.name)
    return row


def update_provider(
    session: Session,
    caller: Principal,
    tenant_id: str,
    provider_id: str,
    changes: dict[str, Any],
    settings: Settings,
) -> SsoProvider:
    """Apply the fields sent; ``client_secret`` replaces the stored one when given."""
    row = get_provider(session, caller, tenant_id, provider_id)
    if "issuer" in changes:
        row.issuer = check_issuer(changes["issuer"])
    if changes.get("client_secret"):
        row.client_secret_enc = crypto.encrypt(changes["client_secret"], settings)
    checks: dict[str, Callable[[Any], list[Any]]] = {
        "scopes": check_scopes,
        "allowed_domains": check_domains,
        "rules": check_rules,
    }
    for name in ("name", "client_id", "default_role", "allow_private_network", "enabled"):
        if name in changes:
            setattr(row, name, changes[name])
    for name, check in checks.items():
        if name in changes:
            setattr(row, name, check(changes[name]))
    row.updated_at = datetime.now(UTC)
    _flush_unique(session, row.name)
    return row


def delete_provider(session: Session, caller: Principal, tenant_id: str, provider_id: str) -> None:
    session.delete(get_provider(session, caller, tenant_id, provider_id))


def _flush_unique(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise refused(
            Conflict,
            "sso_provider_name_taken",
            "A provider named '{name}' already exists here",
            param="name",
            name=name,
        ) from None


def client_secret(row: SsoProvider, settings: Settings) -> str:
    """The plaintext secret, for the token request only: never returned, never logged."""
    return crypto.decrypt(row.client_secret_enc, settings)


def provider_view(row: SsoProvider) -> dict[str, Any]:
    """What the API shows of a provider: everything but the secret."""
    return {
        "id": row.id,
        "object": "sso_provider",
        "tenant_id": row.tenant_id,
        "name": row.name,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "has_client_secret": bool(row.client_secret_enc),
        "scopes": list(row.scopes),
        "allowed_domains": list(row.allowed_domains),
        "rules": list(row.rules),
        "default_role": row.default_role,
        "allow_private_network": row.allow_private_network,
        "enabled": row.enabled,
        "created_at": unix_time(row.created_at),
        "updated_at": unix_time(row.updated_at),
    }


def enabled_providers(session: Session) -> list[SsoProvider]:
    """Every enabled provider of every enabled organization: the login page's buttons."""
    return list(
        session.scalars(
            select(SsoProvider)
            .join(Tenant, Tenant.id == SsoProvider.tenant_id)
            .where(SsoProvider.enabled.is_(True), Tenant.disabled.is_(False))
            .order_by(SsoProvider.name)
        )
    )


def set_passwords_disabled(
    session: Session, caller: Principal, tenant_id: str, disabled: bool
) -> Tenant:
    """Local passwords off (or on again) for one organization's members.

    Platform administrators keep their password, so whoever switched it off can always switch
    it back (e.g. while the organization's provider is down).
    """
    require_platform_admin(caller)
    tenant = _tenant(session, tenant_id)
    tenant.passwords_disabled = disabled
    session.flush()
    return tenant
