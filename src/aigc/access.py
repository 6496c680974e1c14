"""Who may: the caller as every stage sees it (``Principal``), roles and their ranks, checks.

The bottom layer beside ``aigc.errors``: models, guard, knowledge and infra decide who may do
what, so these live below all of them and import nothing of aigc but the errors. *How* a caller
is recognised (keys, passwords, console sessions) is the gateway's (``gateway/auth.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from aigc.errors import PermissionDenied, refused, refused_value

Role = Literal["viewer", "member", "admin", "owner"]  # the type request bodies declare
ROLES: tuple[str, ...] = get_args(Role)
_RANK = {role: rank for rank, role in enumerate(ROLES)}


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
    expires_at: datetime | None = None  # the key's: with the three above, what limits a key

    def at_least(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    @property
    def limited(self) -> bool:
        return bool(self.rpm_limit or self.tpm_limit or self.daily_token_budget)

    @property
    def key_limited(self) -> bool:
        """Whether the caller's key limits models, a rate or a date (``require_unlimited``)."""
        limits = (self.allowed_models, self.rpm_limit, self.tpm_limit, self.expires_at)
        return any(limit is not None for limit in limits)


def platform_principal(tenant_id: str) -> Principal:
    """The platform operator acting in ``tenant_id`` (the CLI, default-model bootstrap).

    Owner of that tenant with platform rights; the one way such a principal is built, so no
    caller can forget the platform flag or add a key id that would cap it.
    """
    return Principal(tenant_id=tenant_id, role="owner", platform_admin=True)


def role_rank(role: str) -> int:
    """0 for viewer up to 3 for owner; unknown roles rank below every known one."""
    return _RANK.get(role, -1)


def weaker_role(a: str, b: str) -> str:
    """The lower of two roles: what a user-bound key may do is capped by its user's role."""
    return a if role_rank(a) <= role_rank(b) else b


def require_role(principal: Principal, role: str) -> None:
    if not principal.at_least(role):
        raise refused(
            PermissionDenied,
            "role_needed",
            "This action needs the '{role}' role; your role is '{own}'",
            role=role,
            own=principal.role,
        )


def require_model_allowed(principal: Principal, model: str, param: str = "model") -> None:
    """A key's ``allowed_models`` holds on every route that takes a model (403 otherwise),
    and on every one that makes or changes a model (``param`` names its field there)."""
    if principal.allowed_models is not None and model not in principal.allowed_models:
        raise refused(
            PermissionDenied,
            "model_not_allowed",
            "This API key may not use the model '{model}'",
            param=param,
            code="model_not_allowed",
            model=model,
        )


def require_unlimited(principal: Principal, action: str, param: str | None = None) -> None:
    """Refuse ``action`` to a key limited to models, a rate or a date (403 ``limited_api_key``).

    Such a key may use and change what its limits cover, never who may do what: a raised
    role, an enabled account, a group member or a grant outlives the key and holds none of its
    limits, so whoever holds the key would act through that person without them.
    """
    if principal.key_limited:
        raise PermissionDenied(
            f"An API key limited to models, rates or a date cannot {action}; use an "
            "unlimited key or the console",
            param=param,
            code="limited_api_key",
        )


def require_platform_admin(principal: Principal, param: str | None = None) -> None:
    if not principal.platform_admin:
        raise refused(
            PermissionDenied,
            "platform_admin_only",
            "This action is for the platform administrator only",
            param=param,
        )


def check_role_name(role: str, param: str = "role") -> str:
    """``role`` when it is one of ``ROLES``; else the 400 naming ``param`` and the roles."""
    if role not in _RANK:
        raise refused_value(
            "literal_error",
            "Unknown role '{role}'; roles are {expected}",
            param=param,
            role=str(role)[:40],
            expected=", ".join(ROLES),
        )
    return role
