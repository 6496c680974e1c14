"""Tenants, users, groups and API keys as plain functions over a session.

Every lookup filters by the caller's tenant here, in the data-access function, never only in a
route: an object of another tenant is reported as not found, exactly as if it did not exist.
Only the platform administrator crosses tenants. Who may change whose account (password, role,
disabled flag, deletion, keys) is decided by ``account_rules`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aigc.access import (
    Principal,
    check_role_name,
    require_platform_admin,
    require_role,
    require_unlimited,
    role_rank,
)
from aigc.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, refused, refused_value
from aigc.gateway import account_rules, sessions
from aigc.gateway.account_rules import may_grant, may_manage
from aigc.gateway.auth import hash_api_key, hash_password, new_api_key
from aigc.infra import untrusted
from aigc.infra.schema import ApiKey, Group, GroupMember, Tenant, User, new_id, unix_time

Row = TypeVar("Row", User, Group, ApiKey)


# --- scoping -------------------------------------------------------------------------------


def target_tenant(session: Session, principal: Principal, tenant_id: str | None) -> str:
    """The tenant an action applies to: the caller's own unless a platform admin names another."""
    if tenant_id is None or tenant_id == principal.tenant_id:
        return principal.tenant_id
    if not principal.platform_admin:
        raise refused(
            PermissionDenied,
            "other_organization",
            "Only the platform administrator may act on another organization",
            param="tenant_id",
        )
    get_tenant(session, principal, tenant_id)
    return tenant_id


def no_organization(tenant_id: str) -> NotFound:
    return refused(
        NotFound,
        "organization_not_found",
        "No organization with id '{id}'",
        id=untrusted.field(tenant_id),
    )


def _no_group(group_id: str) -> NotFound:
    return refused(
        NotFound, "group_not_found", "No group with id '{id}'", id=untrusted.field(group_id)
    )


def _owned(
    session: Session,
    principal: Principal,
    model: type[Row],
    obj_id: str,
    missing: Callable[[str], NotFound],
) -> Row:
    """The row, or ``missing``'s 404: the same for another organization's as for none."""
    obj = session.get(model, obj_id)
    if obj is None or (obj.tenant_id != principal.tenant_id and not principal.platform_admin):
        raise missing(obj_id)
    return obj


# --- tenants (platform admin) --------------------------------------------------------------


def create_tenant(
    session: Session, principal: Principal | None, name: str, daily_token_budget: int | None
) -> Tenant:
    if principal is not None:
        require_platform_admin(principal)
    name = _free_tenant_name(session, name)
    tenant = Tenant(id=new_id("org_"), name=name, daily_token_budget=daily_token_budget)
    session.add(tenant)
    session.flush()
    return tenant


def _free_tenant_name(session: Session, name: str, tenant_id: str | None = None) -> str:
    """The name stripped, if no other organization has it (409: names are unique)."""
    name = name.strip()
    if not name:
        raise refused_value("name_empty", "Organization name must not be empty", param="name")
    holder = session.scalar(select(Tenant.id).where(Tenant.name == name))
    if holder is not None and holder != tenant_id:
        raise refused(
            Conflict,
            "organization_name_taken",
            "An organization named '{name}' already exists",
            param="name",
            name=name,
        )
    return name


def list_tenants(session: Session, principal: Principal) -> list[Tenant]:
    require_platform_admin(principal)
    return list(session.scalars(select(Tenant).order_by(Tenant.created_at)))


def get_tenant(session: Session, principal: Principal, tenant_id: str) -> Tenant:
    require_platform_admin(principal)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise no_organization(tenant_id)
    return tenant


def update_tenant(
    session: Session, principal: Principal, tenant_id: str, changes: dict[str, Any]
) -> Tenant:
    """Apply ``changes``: null leaves the name and the disabled flag as they are (neither can
    be empty) and clears the daily budget."""
    tenant = get_tenant(session, principal, tenant_id)
    changes = {f: v for f, v in changes.items() if v is not None or f == "daily_token_budget"}
    if "name" in changes:  # another's name was a 500 from the unique index
        changes["name"] = _free_tenant_name(session, changes["name"], tenant.id)
    for field in ("name", "daily_token_budget", "disabled"):
        if field in changes:
            setattr(tenant, field, changes[field])
    if tenant.disabled and tenant.id == principal.tenant_id:
        raise refused_value(
            "own_organization_disabled",
            "You cannot disable your own organization",
            param="disabled",
            code="own_organization",
        )
    session.flush()
    return tenant


def delete_tenant(session: Session, principal: Principal, tenant_id: str) -> None:
    tenant = get_tenant(session, principal, tenant_id)
    if tenant.id == principal.tenant_id:
        raise refused_value(
            "own_organization_deleted",
            "You cannot delete your own organization",
            param="tenant_id",
            code="own_organization",
        )
    session.delete(tenant)


# --- users ---------------------------------------------------------------------------------


def create_user(
    session: Session,
    principal: Principal | None,
    *,
    tenant_id: str,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    platform_admin: bool = False,
) -> User:
    """``principal`` None means the local CLI, which is trusted like the platform admin."""
    check_role_name(role)
    if principal is not None:
        require_role(principal, "admin")
        tenant_id = target_tenant(session, principal, tenant_id)
        may_grant(principal, role, platform_admin=platform_admin)
        account_rules.may_set_password(principal)
    elif session.get(Tenant, tenant_id) is None:
        raise no_organization(tenant_id)
    username = username.strip()
    if not username:
        raise InvalidRequest(
            "Username must not be empty", param="username", code="username_required"
        )
    if len(password) < 8:
        raise password_too_short()
    user = User(
        id=new_id("user_"),
        tenant_id=tenant_id,
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        platform_admin=platform_admin,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise username_unavailable() from None
    return user


def password_too_short() -> InvalidRequest:
    """The one password rule, coded so a client (the console) can say it in its language."""
    return InvalidRequest(
        "Password must have at least 8 characters", param="password", code="password_too_short"
    )


def username_unavailable() -> Conflict:
    """Usernames are one namespace for sign-in, so a taken name must be refused; the answer is
    the same whichever organization holds it and names nothing, not even the name asked for."""
    return Conflict(
        "This username is not available; choose another", param="username", code="username_taken"
    )


def list_users(session: Session, principal: Principal, tenant_id: str | None = None) -> list[User]:
    require_role(principal, "admin")
    tenant_id = target_tenant(session, principal, tenant_id)
    return list(
        session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.username))
    )


def get_user(session: Session, principal: Principal, user_id: str) -> User:
    if principal.user_id != user_id:
        require_role(principal, "admin")
    return _owned(session, principal, User, user_id, account_rules.no_user)


def update_user(
    session: Session, principal: Principal, user_id: str, changes: dict[str, Any]
) -> User:
    """Apply ``changes`` after ``account_rules.may_manage`` allowed each one.

    A new password or disabling the account signs the user out everywhere (their console
    sessions end); a disabled user's keys are refused at authentication, and a demoted user's
    keys act with the new role, as ``authenticate_key`` caps a key by its user.

    Changing one's own password needs the current one (``current_password``): without it,
    whoever held one of the user's keys, limited or not, could take the account and sign in
    to the console, where no key limit applies.
    """
    current = changes.get("current_password")
    changes = {
        field: value
        for field, value in changes.items()
        if value is not None and field != "current_password"
    }
    if not changes:  # answers the user as it is: no more than get_user would show
        return get_user(session, principal, user_id)
    user = _user_for(session, principal, user_id)
    if "display_name" in changes:
        may_manage(session, principal, user, "display_name")
    if "password" in changes:
        may_manage(session, principal, user, "password")
        if len(changes["password"]) < 8:
            raise password_too_short()
        if principal.user_id == user.id:
            _prove_current_password(session, user, current)
        else:
            account_rules.may_set_password(principal)
    if "role" in changes:
        may_manage(session, principal, user, "role", new_role=changes["role"])
        if role_rank(changes["role"]) > role_rank(user.role):
            require_unlimited(principal, "raise a user's role", param="role")
    if "disabled" in changes:
        may_manage(session, principal, user, "disable" if changes["disabled"] else "enable")
        if user.disabled and not changes["disabled"]:
            require_unlimited(principal, "enable a disabled account", param="disabled")
    if "role" in changes:
        user.role = changes["role"]
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        user.failed_logins, user.locked_until = 0, None
    if "display_name" in changes:
        user.display_name = changes["display_name"]
    if "disabled" in changes:
        user.disabled = bool(changes["disabled"])
    if "password" in changes or user.disabled:
        sessions.end_user_sessions(session, user.id)
    session.flush()
    return user


def _prove_current_password(session: Session, user: User, current: str | None) -> None:
    """Refuse a change of one's own password without the right current one (under the
    sign-in lockout, so this is no way to guess it)."""
    if not current:
        raise InvalidRequest(
            "Changing your own password needs your current password in current_password",
            param="current_password",
            code="missing_required_parameter",
        )
    refused, _ = sessions.check_password(session, user, current)
    if refused == "locked":
        raise PermissionDenied(
            "Too many wrong passwords: this account is locked for a while",
            param="current_password",
            code="account_locked",
        )
    if refused is not None:
        raise PermissionDenied(
            "current_password is not your current password",
            param="current_password",
            code="wrong_password",
        )
    session.refresh(user)


def delete_user(session: Session, principal: Principal, user_id: str) -> None:
    """Delete a user and revoke their keys (which would otherwise outlive them, unbound)."""
    user = _user_for(session, principal, user_id)
    may_manage(session, principal, user, "delete")
    now = datetime.now(UTC)
    for key in session.scalars(
        select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    ):
        key.revoked_at = now
    session.flush()
    session.delete(user)


def _user_for(session: Session, principal: Principal, user_id: str) -> User:
    """The user to change, or 404 when absent or in another organization."""
    user = session.get(User, user_id)
    if user is None:
        raise account_rules.no_user(user_id)
    account_rules.visible(principal, user)
    return user


def has_owner(session: Session) -> bool:
    """Whether the install's owner exists: an owner who is platform admin (what first-run
    setup makes). An organization's owner, which a platform-admin key may create before
    setup is done, is not it: setup stays open until the install has its own."""
    owners = select(func.count()).select_from(User)
    return bool(session.scalar(owners.where(User.role == "owner", User.platform_admin.is_(True))))


# --- groups --------------------------------------------------------------------------------


def create_group(
    session: Session, principal: Principal, name: str, tenant_id: str | None = None
) -> Group:
    require_role(principal, "admin")
    tenant_id = target_tenant(session, principal, tenant_id)
    name = name.strip()
    if not name:
        raise refused_value("name_empty", "Group name must not be empty", param="name")
    group = Group(id=new_id("grp_"), tenant_id=tenant_id, name=name)
    session.add(group)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise refused(
            Conflict,
            "group_name_taken",
            "A group named '{name}' already exists",
            param="name",
            name=name,
        ) from None
    return group


def list_groups(
    session: Session, principal: Principal, tenant_id: str | None = None
) -> list[Group]:
    tenant_id = target_tenant(session, principal, tenant_id)
    return list(
        session.scalars(select(Group).where(Group.tenant_id == tenant_id).order_by(Group.name))
    )


def get_group(session: Session, principal: Principal, group_id: str) -> Group:
    return _owned(session, principal, Group, group_id, _no_group)


def group_member_ids(session: Session, group_id: str) -> list[str]:
    return list(
        session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group_id))
    )


def add_group_member(session: Session, principal: Principal, group_id: str, user_id: str) -> None:
    """Groups hold knowledge-base grants, so joining one widens what its new member may read."""
    require_role(principal, "admin")
    require_unlimited(principal, "add a member to a group", param="user_id")
    group = get_group(session, principal, group_id)
    user = _owned(session, principal, User, user_id, account_rules.no_user)
    if user.tenant_id != group.tenant_id:
        raise account_rules.no_user(user_id)
    if session.get(GroupMember, (group_id, user_id)) is None:
        session.add(GroupMember(group_id=group_id, user_id=user_id))
        session.flush()


def remove_group_member(
    session: Session, principal: Principal, group_id: str, user_id: str
) -> None:
    require_role(principal, "admin")
    get_group(session, principal, group_id)
    member = session.get(GroupMember, (group_id, user_id))
    if member is None:
        raise refused(
            NotFound,
            "not_group_member",
            "User '{user}' is not in group '{group}'",
            user=untrusted.field(user_id),
            group=untrusted.field(group_id),
        )
    session.delete(member)


def delete_group(session: Session, principal: Principal, group_id: str) -> None:
    require_role(principal, "admin")
    session.delete(get_group(session, principal, group_id))


# --- API keys ------------------------------------------------------------------------------


def create_key(
    session: Session,
    principal: Principal | None,
    *,
    tenant_id: str,
    name: str = "",
    role: str = "member",
    user_id: str | None = None,
    expires_at: datetime | None = None,
    allowed_models: list[str] | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    platform_admin: bool = False,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never retrievable again.

    A person who names no user gets a key bound to themselves: it acts with no more than their
    current role, stops while they are disabled and is revoked with them. Unbound, the key of an
    admin who was later demoted or deleted kept acting as an admin. Keys with no user are made
    by the operator (CLI, first run), by keys with no user and by the platform administrator
    for another organization.
    """
    check_role_name(role)
    owner: User | None
    if principal is not None:
        require_role(principal, "admin")
        tenant_id = target_tenant(session, principal, tenant_id)
        may_grant(principal, role, platform_admin=platform_admin)
        if user_id is None and principal.user_id is not None and tenant_id == principal.tenant_id:
            user_id = principal.user_id  # one's own key: bound to oneself needs no other check
        elif user_id is not None:
            owner = _user_for(session, principal, user_id)
            if owner.tenant_id != tenant_id:
                raise account_rules.no_user(user_id)
            may_manage(session, principal, owner, "key")
    if user_id is not None:
        owner = session.get(User, user_id)
        if owner is None:
            raise account_rules.no_user(user_id)
        if role_rank(role) > role_rank(owner.role):
            raise refused(
                PermissionDenied,
                "key_above_user_role",
                "A key cannot have a higher role than its user ('{role}')",
                param="role",
                role=owner.role,
            )
    if expires_at is not None:
        expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise refused_value(
                "time_not_in_future", "expires_at must be in the future", param="expires_at"
            )
    for field, value in (("rpm_limit", rpm_limit), ("tpm_limit", tpm_limit)):
        if value is not None and value < 1:
            raise refused_value(
                "greater_than_equal", f"{field} must be a positive integer", param=field, ge=1
            )
    if principal is not None:
        limits = account_rules.key_limits(
            session,
            principal,
            account_rules.KeyLimits(allowed_models, rpm_limit, tpm_limit, expires_at),
        )
        allowed_models, rpm_limit, tpm_limit = (
            limits.allowed_models,
            limits.rpm_limit,
            limits.tpm_limit,
        )
        expires_at = limits.expires_at
    secret = secret or new_api_key()
    key = ApiKey(
        id=new_id("key_"),
        tenant_id=tenant_id,
        user_id=user_id,
        name=name,
        prefix=secret[:12],
        secret_hash=hash_api_key(secret),
        role=role,
        platform_admin=platform_admin,
        allowed_models=allowed_models,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, secret


def list_keys(session: Session, principal: Principal, tenant_id: str | None = None) -> list[ApiKey]:
    require_role(principal, "admin")
    tenant_id = target_tenant(session, principal, tenant_id)
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
        )
    )


def get_key(session: Session, principal: Principal, key_id: str) -> ApiKey:
    """A key of the caller's organization; non-admins see only their own keys."""
    key = _owned(session, principal, ApiKey, key_id, account_rules.no_key)
    own = key.id == principal.key_id or (
        key.user_id is not None and key.user_id == principal.user_id
    )
    if not own:
        require_role(principal, "admin")
    return key


def revoke_key(session: Session, principal: Principal | None, key_id: str) -> ApiKey:
    """Revoke a key: one's own always, another's under ``account_rules.may_manage_key``."""
    if principal is None:
        key = session.get(ApiKey, key_id)
        if key is None:
            raise account_rules.no_key(key_id)
    else:
        key = get_key(session, principal, key_id)
        account_rules.may_manage_key(session, principal, key)
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        session.flush()
    return key


# --- views (what the API returns; never a secret or a hash) --------------------------------


def tenant_view(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "organization",
        "name": t.name,
        "daily_token_budget": t.daily_token_budget,
        "disabled": t.disabled,
        "passwords_disabled": t.passwords_disabled,
        "created_at": unix_time(t.created_at),
    }


def user_view(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "object": "user",
        "tenant_id": u.tenant_id,
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role,
        "platform_admin": u.platform_admin,
        "disabled": u.disabled,
        "created_at": unix_time(u.created_at),
    }


def group_view(g: Group, member_ids: list[str]) -> dict[str, Any]:
    return {
        "id": g.id,
        "object": "group",
        "tenant_id": g.tenant_id,
        "name": g.name,
        "members": member_ids,
        "created_at": unix_time(g.created_at),
    }


def key_view(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "object": "api_key",
        "tenant_id": k.tenant_id,
        "user_id": k.user_id,
        "name": k.name,
        "prefix": k.prefix,
        "role": k.role,
        "platform_admin": k.platform_admin,
        "allowed_models": k.allowed_models,
        "rpm_limit": k.rpm_limit,
        "tpm_limit": k.tpm_limit,
        "expires_at": unix_time(k.expires_at),
        "revoked_at": unix_time(k.revoked_at),
        "created_at": unix_time(k.created_at),
    }
