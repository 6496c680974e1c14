"""Tables of single sign-on (OpenID Connect): providers per organization, the identities they
vouch for, and sign-ins under way.

A provider belongs to one organization (``tenant_id``): whoever it vouches for is a user of that
organization and of no other. Its client secret is kept encrypted (``infra/crypto.py``), like an
upstream's API key. An identity is the provider's ``sub`` for a person, never an e-mail address
(addresses get reassigned; ``sub`` does not), so an existing account is never taken over by
name. A pending sign-in lives from the redirect to the provider until the callback, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aigc.infra.db import Base
from aigc.infra.schema import utcnow


class SsoProvider(Base):
    """An OpenID Connect provider people of one organization sign in with."""

    __tablename__ = "sso_providers"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_sso_providers_tenant_name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))  # "Sign in with {name}"
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(300))
    client_secret_enc: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # None: a person no role rule matches is refused
    default_role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The issuer (and every endpoint it names) may be on loopback or a private network.
    allow_private_network: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SsoIdentity(Base):
    """The provider's subject (``sub``) for one user: how a returning person is recognised."""

    __tablename__ = "sso_identities"
    __table_args__ = (
        UniqueConstraint("provider_id", "subject", name="uq_sso_identities_provider_subject"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[str] = mapped_column(
        ForeignKey("sso_providers.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SsoPending(Base):
    """A sign-in between the redirect to the provider and its callback; deleted when used.

    Found by the SHA-256 of ``state``; bound to the browser that started it by the SHA-256 of a
    secret in that browser's cookie. ``nonce`` and the PKCE ``code_verifier`` live only here.
    """

    __tablename__ = "sso_pending"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_id: Mapped[str] = mapped_column(
        ForeignKey("sso_providers.id", ondelete="CASCADE"), index=True
    )
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    next_path: Mapped[str] = mapped_column(String(2000), default="/chat")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
