"""Who may change whose account, as a table: every role pair in two organizations × each change.

The people: in the default organization a viewer, a member, an admin, an owner and the platform
owner ("root", owner and platform administrator); in another organization a viewer, a member,
an admin and its only owner. Each acts (through a console session, so with their own role) on
each of them, through the plain functions on a real SQLite database. Every cell runs in its own
session that is rolled back, so the cells do not affect each other.

Cells: ``A`` allowed, ``D`` refused with 403, ``N`` 404 (the user does not exist for the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from aigc.gateway import accounts, sessions
from aigc.gateway.auth import authenticate_key
from aigc.infra import migrate
from aigc.infra.db import Database
from aigc.infra.schema import ApiKey, User
from aigc.infra.tenants import default_tenant

PASSWORD = "correct horse battery"
# person → (organization, role); "root" is the platform owner.
ROLES = {
    "d.viewer": ("d", "viewer"),
    "d.member": ("d", "member"),
    "d.admin": ("d", "admin"),
    "d.owner": ("d", "owner"),
    "root": ("d", "owner"),
    "o.viewer": ("o", "viewer"),
    "o.member": ("o", "member"),
    "o.admin": ("o", "admin"),
    "o.owner": ("o", "owner"),
}
PEOPLE = tuple(ROLES)

# Rows: who acts. Columns, in PEOPLE order: on whom.
#                     d.viewer d.member d.admin d.owner root | o.viewer o.member o.admin o.owner
PASSWORD_TABLE = {
    "d.viewer": "ADDDD NNNN",
    "d.member": "DADDD NNNN",
    "d.admin": "AAADD NNNN",  # an admin may not touch an owner, nor the platform owner (defect 1)
    "d.owner": "AAAAD NNNN",  # the platform owner only by itself or another platform admin
    "root": "AAAAA AAAA",
    "o.viewer": "NNNNN ADDD",
    "o.member": "NNNNN DADD",
    "o.admin": "NNNNN AAAD",  # a tenant admin may not take over the tenant's owner (defect 2)
    "o.owner": "NNNNN AAAA",
}
ROLE_TO_OWNER = {
    "d.viewer": "DDDDD NNNN",
    "d.member": "DDDDD NNNN",
    "d.admin": "DDDDD NNNN",  # nobody grants a role above their own
    "d.owner": "AAAAD NNNN",
    "root": "AAAAA AAAA",
    "o.viewer": "NNNNN DDDD",
    "o.member": "NNNNN DDDD",
    "o.admin": "NNNNN DDDD",
    "o.owner": "NNNNN AAAA",
}
ROLE_TO_ADMIN = {
    "d.viewer": "DDDDD NNNN",
    "d.member": "DDDDD NNNN",
    "d.admin": "AAADD NNNN",
    "d.owner": "AAAAD NNNN",  # may step down: root is another owner
    "root": "AAAAD AAAD",  # root stays an owner; o.owner is its organization's last owner
    "o.viewer": "NNNNN DDDD",
    "o.member": "NNNNN DDDD",
    "o.admin": "NNNNN AAAD",
    "o.owner": "NNNNN AAAD",  # the last owner cannot step down
}
ROLE_TO_VIEWER = {
    "d.viewer": "ADDDD NNNN",  # a no-op on oneself
    "d.member": "DADDD NNNN",  # anyone may lower their own role
    "d.admin": "AAADD NNNN",
    "d.owner": "AAAAD NNNN",
    "root": "AAAAD AAAD",
    "o.viewer": "NNNNN ADDD",
    "o.member": "NNNNN DADD",
    "o.admin": "NNNNN AAAD",
    "o.owner": "NNNNN AAAD",
}
DISABLE_OR_DELETE = {
    "d.viewer": "DDDDD NNNN",  # nobody disables or deletes themselves
    "d.member": "DDDDD NNNN",
    "d.admin": "AADDD NNNN",
    "d.owner": "AAADD NNNN",
    "root": "AAAAD AAAD",
    "o.viewer": "NNNNN DDDD",
    "o.member": "NNNNN DDDD",
    "o.admin": "NNNNN AADD",
    "o.owner": "NNNNN AAAD",
}
CREATE_KEY_FOR = {
    "d.viewer": "DDDDD DDDD",  # only admins create keys at all, so this 403 names no one
    "d.member": "DDDDD DDDD",
    "d.admin": "AAADD NNNN",
    "d.owner": "AAAAD NNNN",
    "root": "AAAAA AAAA",
    "o.viewer": "DDDDD DDDD",
    "o.member": "DDDDD DDDD",
    "o.admin": "NNNNN AAAD",
    "o.owner": "NNNNN AAAA",
}
REVOKE_KEY_OF = {
    "d.viewer": "ADDDD NNNN",  # one's own keys always
    "d.member": "DADDD NNNN",
    "d.admin": "AAADD NNNN",
    "d.owner": "AAAAD NNNN",
    "root": "AAAAA AAAA",
    "o.viewer": "NNNNN ADDD",
    "o.member": "NNNNN DADD",
    "o.admin": "NNNNN AAAD",
    "o.owner": "NNNNN AAAA",
}


@dataclass
class World:
    db: Database
    ids: dict[str, str]  # person → user id
    callers: dict[str, Principal]  # person → principal of their console session
    keys: dict[str, str]  # person → id of a key bound to them (their role)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{tmp_path_factory.mktemp('rules') / 'aigc.db'}"
    migrate.upgrade(url)
    db = Database(url)
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    with db.session() as s:
        orgs = {"d": default_tenant(s).id}
        orgs["o"] = accounts.create_tenant(s, None, "Other", None).id
        for person, (org, role) in ROLES.items():
            user = accounts.create_user(
                s,
                None,
                tenant_id=orgs[org],
                username=person,
                password=PASSWORD,
                role=role,
                platform_admin=person == "root",
            )
            ids[person] = user.id
            key, _ = accounts.create_key(
                s, None, tenant_id=user.tenant_id, role=user.role, user_id=user.id
            )
            keys[person] = key.id
    callers: dict[str, Principal] = {}
    for person in PEOPLE:
        with db.session() as s:
            secret = sessions.sign_in(s, person, PASSWORD).secret
            assert secret is not None
            callers[person] = authenticate_key(s, secret)
    assert callers["root"].platform_admin and not callers["d.owner"].platform_admin
    yield World(db, ids, callers, keys)
    db.dispose()


def _outcome(
    world: World, act: Callable[[Session, Principal, User], object], who: str, on: str
) -> str:
    """Run one cell in a session that is always rolled back."""
    s = world.db._sessions()
    try:
        act(s, world.callers[who], s.get(User, world.ids[on]))  # type: ignore[arg-type]
        s.flush()
        return "A"
    except NotFound:
        return "N"
    except PermissionDenied:
        return "D"
    finally:
        s.rollback()
        s.close()


def _update(changes: dict[str, object]) -> Callable[[Session, Principal, User], object]:
    return lambda s, p, u: accounts.update_user(s, p, u.id, changes)


def _create_key(s: Session, p: Principal, u: User) -> object:
    tenant = u.tenant_id if p.platform_admin else p.tenant_id
    return accounts.create_key(s, p, tenant_id=tenant, role="viewer", user_id=u.id)


def _revoke(world: World) -> Callable[[Session, Principal, User], object]:
    return lambda s, p, u: accounts.revoke_key(s, p, world.keys[u.username])


CHANGES: dict[str, tuple[dict[str, str], Callable[[World], Callable[..., object]]]] = {
    "password": (
        PASSWORD_TABLE,
        lambda w: _update({"password": "a new password", "current_password": PASSWORD}),
    ),
    "display_name": (PASSWORD_TABLE, lambda w: _update({"display_name": "Renamed"})),
    "role=owner": (ROLE_TO_OWNER, lambda w: _update({"role": "owner"})),
    "role=admin": (ROLE_TO_ADMIN, lambda w: _update({"role": "admin"})),
    "role=viewer": (ROLE_TO_VIEWER, lambda w: _update({"role": "viewer"})),
    "disable": (DISABLE_OR_DELETE, lambda w: _update({"disabled": True})),
    "delete": (DISABLE_OR_DELETE, lambda w: lambda s, p, u: accounts.delete_user(s, p, u.id)),
    "create key": (CREATE_KEY_FOR, lambda w: _create_key),
    "revoke key": (REVOKE_KEY_OF, _revoke),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_account_change_table(world: World, change: str) -> None:
    table, make = CHANGES[change]
    act = make(world)
    got = {
        who: "".join(_outcome(world, act, who, on) for on in PEOPLE[:5])
        + " "
        + "".join(_outcome(world, act, who, on) for on in PEOPLE[5:])
        for who in PEOPLE
    }
    assert got == table


def test_a_key_never_acts_above_its_user_or_without_platform_rights(world: World) -> None:
    """Keys as callers: an org admin's key is still refused on the platform owner, and a key
    weaker than its user cannot change that user's password (then sign in as them)."""
    with world.db.session() as s:
        d_tenant = s.get(User, world.ids["d.owner"]).tenant_id  # type: ignore[union-attr]
        _, admin_secret = accounts.create_key(s, None, tenant_id=d_tenant, role="admin")
        _, weak_secret = accounts.create_key(
            s, None, tenant_id=d_tenant, role="viewer", user_id=world.ids["d.owner"]
        )
        _, platform_secret = accounts.create_key(
            s, None, tenant_id=d_tenant, role="owner", platform_admin=True
        )
    s = world.db._sessions()
    try:
        admin_key = authenticate_key(s, admin_secret)
        with pytest.raises(PermissionDenied):
            accounts.update_user(s, admin_key, world.ids["root"], {"password": "taken over!"})
        weak = authenticate_key(s, weak_secret)
        assert weak.role == "viewer" and weak.user_id == world.ids["d.owner"]
        with pytest.raises(PermissionDenied):
            accounts.update_user(s, weak, world.ids["d.owner"], {"password": "taken over!"})
        platform = authenticate_key(s, platform_secret)
        accounts.update_user(s, platform, world.ids["root"], {"password": "a new password"})
        with pytest.raises(PermissionDenied):  # a platform admin is always an owner
            accounts.update_user(s, platform, world.ids["root"], {"role": "admin"})
    finally:
        s.rollback()
        s.close()


# --- credentials follow account changes ----------------------------------------------------


@pytest.fixture
def fresh(db_url: str) -> Iterator[tuple[Database, Principal, str]]:
    """A database (SQLite, then PostgreSQL) with one organization and its owner."""
    migrate.upgrade(db_url)
    db = Database(db_url)
    with db.session() as s:
        tenant = accounts.create_tenant(s, None, "Acme", None)
        _, secret = accounts.create_key(s, None, tenant_id=tenant.id, role="owner")
        owner = authenticate_key(s, secret)
    yield db, owner, tenant.id
    db.dispose()


def _person(db: Database, owner: Principal, name: str, role: str) -> tuple[str, str, str]:
    """A user with a console session and a key of their role: (user id, session, key)."""
    with db.session() as s:
        user = accounts.create_user(
            s, owner, tenant_id=owner.tenant_id, username=name, password=PASSWORD, role=role
        )
        _, key = accounts.create_key(
            s, owner, tenant_id=owner.tenant_id, role=role, user_id=user.id
        )
        user_id = user.id
    with db.session() as s:
        secret = sessions.sign_in(s, name, PASSWORD).secret
    assert secret is not None
    return user_id, secret, key


def test_disabling_a_user_ends_their_sessions_and_refuses_their_keys(
    fresh: tuple[Database, Principal, str],
) -> None:
    db, owner, _ = fresh
    user_id, session_secret, key = _person(db, owner, "li.wei", "member")
    with db.session() as s:
        assert authenticate_key(s, key).user_id == user_id
        accounts.update_user(s, owner, user_id, {"disabled": True})
    with db.session() as s:
        for secret, code in ((key, "account_disabled"), (session_secret, "session_ended")):
            with pytest.raises(AuthenticationFailed) as refused:
                authenticate_key(s, secret)
            assert refused.value.code == code
        accounts.update_user(s, owner, user_id, {"disabled": False})
    with db.session() as s:  # enabled again: the key works, the ended session stays ended
        assert authenticate_key(s, key).user_id == user_id
        with pytest.raises(AuthenticationFailed):
            authenticate_key(s, session_secret)


def test_a_demoted_users_key_acts_with_the_new_role(
    fresh: tuple[Database, Principal, str],
) -> None:
    db, owner, _ = fresh
    user_id, session_secret, key = _person(db, owner, "zhang.san", "member")
    with db.session() as s:
        accounts.update_user(s, owner, user_id, {"role": "viewer"})
    with db.session() as s:
        assert authenticate_key(s, key).role == "viewer"
        assert authenticate_key(s, session_secret).role == "viewer"
        accounts.update_user(s, owner, user_id, {"role": "admin"})
    with db.session() as s:  # promoted again: never above the key's own role
        assert authenticate_key(s, key).role == "member"
        with pytest.raises(PermissionDenied):  # and no key above its user is made
            accounts.create_key(s, owner, tenant_id=owner.tenant_id, role="owner", user_id=user_id)


def test_a_password_change_ends_every_session_of_the_user(
    fresh: tuple[Database, Principal, str],
) -> None:
    db, owner, _ = fresh
    user_id, first, key = _person(db, owner, "wang.fang", "member")
    with db.session() as s:
        second = sessions.sign_in(s, "wang.fang", PASSWORD).secret
    assert second is not None
    with db.session() as s:
        me = authenticate_key(s, first)
        accounts.update_user(  # by themselves, who must know the current one
            s, me, user_id, {"password": "my new password", "current_password": PASSWORD}
        )
    with db.session() as s:
        for secret in (first, second):
            with pytest.raises(AuthenticationFailed) as ended:
                authenticate_key(s, secret)
            assert ended.value.code == "session_ended"
        assert authenticate_key(s, key).user_id == user_id  # keys are not passwords
        assert sessions.sign_in(s, "wang.fang", PASSWORD).error == "invalid"
        assert sessions.sign_in(s, "wang.fang", "my new password").secret is not None


def test_ones_own_password_changes_only_with_the_current_one(
    fresh: tuple[Database, Principal, str],
) -> None:
    """A key of the user (here limited to one model) took the account by setting a new password
    and signing in, where no key limit holds. Now the current password is asked, and wrong
    guesses count toward the sign-in lockout; an admin resetting someone else's needs none."""
    db, owner, _ = fresh
    user_id, _, _ = _person(db, owner, "li.lei", "member")
    with db.session() as s:
        _, limited = accounts.create_key(
            s, owner, tenant_id=owner.tenant_id, user_id=user_id, allowed_models=["x"]
        )
    for given in ({}, {"current_password": ""}):
        with db.session() as s, pytest.raises(InvalidRequest) as missing:
            me = authenticate_key(s, limited)
            accounts.update_user(s, me, user_id, {"password": "taken over!"} | given)
        assert missing.value.param == "current_password"
    for attempt in range(1, 7):
        with db.session() as s, pytest.raises(PermissionDenied) as wrong:
            me = authenticate_key(s, limited)
            accounts.update_user(
                s, me, user_id, {"password": "taken over!", "current_password": f"guess {attempt}"}
            )
        assert wrong.value.code == ("wrong_password" if attempt < 5 else "account_locked")
    with db.session() as s, pytest.raises(PermissionDenied) as locked:  # even the right one
        me = authenticate_key(s, limited)
        accounts.update_user(
            s, me, user_id, {"password": "taken over!", "current_password": PASSWORD}
        )
    assert locked.value.code == "account_locked"
    with db.session() as s:
        assert sessions.sign_in(s, "li.lei", "taken over!").error == "locked"
        accounts.update_user(s, owner, user_id, {"password": "reset by the owner"})
    with db.session() as s:
        user = s.get(User, user_id)
        assert user is not None and user.locked_until is None  # the reset also unlocks
        assert sessions.sign_in(s, "li.lei", "reset by the owner").secret is not None
        me = authenticate_key(s, limited)
        accounts.update_user(
            s, me, user_id, {"password": "my own choice", "current_password": "reset by the owner"}
        )
    with db.session() as s:
        assert sessions.sign_in(s, "li.lei", "my own choice").secret is not None


def test_deleting_a_user_revokes_their_keys(fresh: tuple[Database, Principal, str]) -> None:
    """The key row would otherwise survive with no user, as an unbound key of the same role."""
    db, owner, _ = fresh
    user_id, _, key = _person(db, owner, "chen.jing", "admin")
    with db.session() as s:
        accounts.delete_user(s, owner, user_id)
    with db.session() as s:
        with pytest.raises(AuthenticationFailed) as revoked:
            authenticate_key(s, key)
        assert revoked.value.code == "revoked_api_key"
        assert (
            s.query(ApiKey).filter(ApiKey.user_id.is_(None), ApiKey.revoked_at.is_(None)).count()
            == 1
        )


def test_a_taken_username_answers_the_same_whichever_organization_has_it(
    fresh: tuple[Database, Principal, str],
) -> None:
    db, owner, _ = fresh
    answers = []
    with db.session() as s:
        other = accounts.create_tenant(s, None, "Elsewhere", None)
        accounts.create_user(
            s, None, tenant_id=other.id, username="elsewhere.user", password=PASSWORD, role="viewer"
        )
        accounts.create_user(
            s,
            owner,
            tenant_id=owner.tenant_id,
            username="here.user",
            password=PASSWORD,
            role="viewer",
        )
    for name in ("elsewhere.user", "here.user"):
        with db.session() as s, pytest.raises(Conflict) as taken:
            accounts.create_user(
                s, owner, tenant_id=owner.tenant_id, username=name, password=PASSWORD, role="viewer"
            )
        answers.append((taken.value.status, taken.value.message, taken.value.code))
        assert name not in taken.value.message
    assert answers[0] == answers[1]


def test_an_empty_change_reads_no_more_than_get_user(world: World) -> None:
    """A PATCH with nothing in it must not become a way around the admin check on reading."""
    s = world.db._sessions()
    try:
        viewer = world.callers["d.viewer"]
        with pytest.raises(PermissionDenied):
            accounts.update_user(s, viewer, world.ids["d.member"], {})
        with pytest.raises(PermissionDenied):
            accounts.update_user(s, viewer, world.ids["d.member"], {"display_name": None})
        assert accounts.update_user(s, viewer, world.ids["d.viewer"], {}).username == "d.viewer"
    finally:
        s.rollback()
        s.close()
