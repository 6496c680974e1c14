"""Who may change whose account: the one rule every account-changing path calls.

Written once so that a route cannot forget a check (the password route once had none, which let
an organization admin take over the platform owner). The rule, for a caller acting on a user:

* **Another organization** is reported as not found (404), exactly as if the user did not
  exist; only the platform administrator crosses organizations.
* **Acting on someone else** needs the ``admin`` role.
* **Nobody acts on a user above their own role**: an admin may not touch an owner (password,
  role, disabled flag, deletion, keys); peers may act on each other.
* **Nobody grants a role above their own**, to a user or to a key; a user-bound key is also
  never above its user's role.
* **A platform administrator account** is changed only by itself or by another platform
  administrator, and always stays an ``owner``.
* **Oneself**: anyone may change their own display name, password and lower their own role
  (the rank rule still applies, so a key weaker than its user cannot change that user's
  password); nobody disables or deletes themselves.
* **The last enabled owner** of an organization cannot be demoted, disabled or deleted (by
  anyone), so an organization always has someone who can manage it.
* **A key never makes a key wider than itself**: one limited to some models, a rate or an
  expiry date gives each new key the same limits or narrower ones (``key_limits``), and sets
  no password but with the current one (a new user's, another user's): a console sign-in has
  none of those limits (``may_set_password``). Nor does it raise a role or enable an account
  (``accounts.update_user``, through ``access.require_unlimited``).

Refusals are ``PermissionDenied`` (403) with a message saying which rule applied, or ``NotFound``
(404) for another organization's user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aigc.access import Principal, check_role_name, require_unlimited, role_rank
from aigc.errors import NotFound, PermissionDenied, refused
from aigc.gateway.auth import as_utc
from aigc.infra import untrusted
from aigc.infra.schema import ApiKey, User

Change = Literal["display_name", "password", "role", "disable", "enable", "delete", "key"]
_SELF_ONLY_REFUSED = {"disable": "disable", "delete": "delete"}


def no_user(user_id: str) -> NotFound:
    """The 404 for a user id: the same for a user that does not exist and another
    organization's, in every language (their kind and values are the same too)."""
    return refused(
        NotFound, "user_not_found", "No user with id '{id}'", id=untrusted.field(user_id)
    )


def no_key(key_id: str) -> NotFound:
    """The 404 for an API key id, the same whether it does not exist or is another's."""
    return refused(
        NotFound, "key_not_found", "No API key with id '{id}'", id=untrusted.field(key_id)
    )


def visible(principal: Principal, target: User) -> None:
    """Another organization's user does not exist for the caller (the platform admin aside)."""
    if target.tenant_id != principal.tenant_id and not principal.platform_admin:
        raise no_user(target.id)


def may_grant(principal: Principal, role: str, *, platform_admin: bool = False) -> None:
    """Refuse giving a user or key a role above the caller's own (or platform rights)."""
    check_role_name(role)
    if platform_admin and not principal.platform_admin:
        raise refused(
            PermissionDenied,
            "grant_platform_only",
            "Only the platform administrator may grant that",
            param="role",
        )
    if not principal.platform_admin and role_rank(role) > role_rank(principal.role):
        raise refused(
            PermissionDenied,
            "grant_above_own_role",
            "You cannot grant the '{role}' role: it is above your own ('{own}')",
            param="role",
            role=role,
            own=principal.role,
        )


def may_manage(
    session: Session,
    principal: Principal,
    target: User,
    change: Change,
    *,
    new_role: str | None = None,
) -> None:
    """Raise unless ``principal`` may make ``change`` to ``target`` (see the module rule).

    ``new_role`` is the role asked for when ``change`` is ``"role"``.
    """
    visible(principal, target)
    is_self = principal.user_id == target.id
    if is_self and change in _SELF_ONLY_REFUSED:
        raise refused(
            PermissionDenied,
            "disable_own_account" if change == "disable" else "delete_own_account",
            f"You cannot {_SELF_ONLY_REFUSED[change]} your own account",
        )
    if is_self and change == "display_name":
        return
    if not is_self and role_rank(principal.role) < role_rank("admin"):
        raise refused(
            PermissionDenied,
            "change_user_needs_admin",
            "Changing another user needs the 'admin' role; your role is '{own}'",
            own=principal.role,
        )
    if target.platform_admin and not principal.platform_admin:
        raise refused(
            PermissionDenied,
            "platform_admin_account",
            "Only the platform administrator may change a platform administrator's account",
        )
    if not principal.platform_admin and role_rank(target.role) > role_rank(principal.role):
        raise refused(
            PermissionDenied,
            "user_above_own_role",
            "You cannot change a user whose role ('{role}') is above your own ('{own}')",
            role=target.role,
            own=principal.role,
        )
    if change == "role":
        role = check_role_name(new_role or "")
        may_grant(principal, role)
        if target.platform_admin and role != "owner":
            raise refused(
                PermissionDenied,
                "platform_admin_is_owner",
                "A platform administrator is always an owner",
                param="role",
            )
        if target.role == "owner" and role != "owner":
            _keep_an_owner(session, target, "demote")
    elif change in ("disable", "delete") and target.role == "owner" and not target.disabled:
        _keep_an_owner(session, target, change)


def may_manage_key(session: Session, principal: Principal, key: ApiKey) -> None:
    """Raise unless ``principal`` may revoke ``key``: its own keys always, else the user rule.

    A key bound to a user is that user's credential, so revoking it is an action on that user;
    a key with no user is judged by its own role and platform flag.
    """
    if key.tenant_id != principal.tenant_id and not principal.platform_admin:
        raise no_key(key.id)
    if key.id == principal.key_id or (key.user_id is not None and key.user_id == principal.user_id):
        return
    if role_rank(principal.role) < role_rank("admin"):
        raise refused(
            PermissionDenied,
            "revoke_key_needs_admin",
            "Revoking another user's key needs the 'admin' role; your role is '{own}'",
            own=principal.role,
        )
    if key.platform_admin and not principal.platform_admin:
        raise refused(
            PermissionDenied,
            "platform_key",
            "Only the platform administrator may revoke a platform key",
        )
    if not principal.platform_admin and role_rank(key.role) > role_rank(principal.role):
        raise refused(
            PermissionDenied,
            "key_above_own_role",
            "You cannot revoke a key whose role ('{role}') is above your own ('{own}')",
            role=key.role,
            own=principal.role,
        )
    if key.user_id is not None:
        user = session.get(User, key.user_id)
        if user is not None:
            may_manage(session, principal, user, "key")


@dataclass(frozen=True)
class KeyLimits:
    """What a new key may do beyond its role: None is no limit."""

    allowed_models: list[str] | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    expires_at: datetime | None = None


def key_limits(session: Session, principal: Principal, asked: KeyLimits) -> KeyLimits:
    """The limits of a key ``principal`` creates: never wider than the caller's own key's.

    Without this a key limited to one model, a rate or a date minted an unlimited key (and
    could revoke itself afterwards). What the caller leaves out is inherited from its key;
    asking for more is refused (403 naming the field). Console sign-ins carry no key limits.
    """
    creator = session.get(ApiKey, principal.key_id) if principal.key_id is not None else None
    if creator is None:
        return asked
    models = asked.allowed_models
    if creator.allowed_models is not None:
        if models is None:
            models = list(creator.allowed_models)
        elif wider := sorted(set(models) - set(creator.allowed_models)):
            raise refused(
                PermissionDenied,
                "key_models_wider",
                "This API key may not give a key models it may not use itself: {models}",
                param="allowed_models",
                models=", ".join(wider),
            )
    rpm = _no_more(asked.rpm_limit, creator.rpm_limit, "rpm_limit")
    tpm = _no_more(asked.tpm_limit, creator.tpm_limit, "tpm_limit")
    expires = asked.expires_at
    if creator.expires_at is not None:
        ends = as_utc(creator.expires_at)
        if expires is None:
            expires = ends
        elif as_utc(expires) > ends:
            raise refused(
                PermissionDenied,
                "key_outlives_creator",
                "A key cannot outlive the API key that creates it",
                param="expires_at",
            )
    return KeyLimits(models, rpm, tpm, expires)


def may_set_password(principal: Principal) -> None:
    """Refuse a limited key setting a password for a new or another user: signed in with it,
    whoever holds the key would act without the key's limits (models, rates, expiry)."""
    require_unlimited(
        principal,
        "set a password: a sign-in with it would have none of the key's limits",
        param="password",
    )


def _no_more(asked: int | None, own: int | None, field: str) -> int | None:
    if own is None:
        return asked
    if asked is None:
        return own
    if asked > own:
        raise refused(
            PermissionDenied,
            "key_limit_above_own",
            "This API key may not give a key a {field} above its own ({own})",
            param=field,
            field=field,
            own=own,
        )
    return asked


def _keep_an_owner(session: Session, target: User, action: str) -> None:
    """Refuse when ``target`` is the organization's only enabled owner."""
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.tenant_id == target.tenant_id,
            User.role == "owner",
            User.disabled.is_(False),
            User.id != target.id,
        )
    )
    if not others:
        raise refused(
            PermissionDenied,
            "demote_last_owner"
            if action == "demote"
            else "disable_last_owner"
            if action == "disable"
            else "delete_last_owner",
            f"You cannot {action} the organization's last owner; make another owner first",
        )
