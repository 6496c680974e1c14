"""Tenancy, users, groups, keys and the model registry as plain functions, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidRequest,
    ModelNotFound,
    ModelNotReady,
    NotFound,
    PermissionDenied,
)
from aigc.gateway import accounts
from aigc.gateway.auth import as_utc, authenticate_key
from aigc.knowledge import bases
from aigc.models.registry import ModelRegistry, ensure_builtin_models
from aigc.models.training import start_training

TINY = """
name: tiny
languages: [en]
intents:
  - id: hello
    patterns: ['hello']
    answers: {en: ["Hello from {who}!"]}
slots: {who: A}
fallback: {en: ["Sorry."]}
"""


def _admin_of(session: Session, name: str) -> Principal:
    tenant = accounts.create_tenant(session, None, name, None)
    _, secret = accounts.create_key(session, None, tenant_id=tenant.id, role="admin")
    return authenticate_key(session, secret)


def test_an_organization_renamed_to_a_taken_name_is_a_conflict(session: Session) -> None:
    """Names are unique: the rename broke the unique index (a 500). A null name or disabled
    flag leaves them as they are (NOT NULL columns: also a 500); a null budget clears it."""
    platform = Principal(tenant_id="t_platform", role="owner", platform_admin=True)
    accounts.create_tenant(session, None, "Taken", None)
    mine = accounts.create_tenant(session, None, "Mine", 1000)
    with pytest.raises(Conflict) as clash:
        accounts.update_tenant(session, platform, mine.id, {"name": " Taken "})
    assert clash.value.param == "name"
    changes = {"name": None, "disabled": None, "daily_token_budget": None}
    kept = accounts.update_tenant(session, platform, mine.id, changes)
    assert (kept.name, kept.disabled, kept.daily_token_budget) == ("Mine", False, None)
    assert accounts.update_tenant(session, platform, mine.id, {"name": " Mine "}).name == "Mine"


def test_keys_are_hashed_scoped_and_refused_when_revoked_or_expired(session: Session) -> None:
    admin = _admin_of(session, "A")
    key, secret = accounts.create_key(session, admin, tenant_id=admin.tenant_id, name="app")
    assert secret.startswith("sk-aigc-") and secret not in (key.secret_hash, key.prefix)
    assert key.prefix == secret[:12]
    assert authenticate_key(session, secret).tenant_id == admin.tenant_id
    with pytest.raises(AuthenticationFailed):
        authenticate_key(session, secret + "x")
    accounts.revoke_key(session, admin, key.id)
    with pytest.raises(AuthenticationFailed) as revoked:
        authenticate_key(session, secret)
    assert revoked.value.code == "revoked_api_key"
    soon = datetime.now(UTC) + timedelta(seconds=30)
    _, expiring = accounts.create_key(session, admin, tenant_id=admin.tenant_id, expires_at=soon)
    with pytest.raises(AuthenticationFailed) as expired:
        authenticate_key(session, expiring, now=soon + timedelta(seconds=1))
    assert expired.value.code == "expired_api_key"
    with pytest.raises(InvalidRequest):
        accounts.create_key(
            session, admin, tenant_id=admin.tenant_id, expires_at=datetime.now(UTC) - timedelta(1)
        )


def test_a_limited_key_creates_only_keys_as_limited(session: Session) -> None:
    """A key limited to a model, a rate and a date minted keys with none of those limits."""
    admin = _admin_of(session, "A")
    ends = datetime.now(UTC) + timedelta(days=1)
    _, limited_secret = accounts.create_key(
        session,
        admin,
        tenant_id=admin.tenant_id,
        role="admin",
        allowed_models=["template-a", "template-b"],
        rpm_limit=10,
        tpm_limit=1000,
        expires_at=ends,
    )
    limited = authenticate_key(session, limited_secret)
    inherited, _ = accounts.create_key(session, limited, tenant_id=limited.tenant_id)
    assert inherited.allowed_models == ["template-a", "template-b"]
    assert (inherited.rpm_limit, inherited.tpm_limit) == (10, 1000)
    assert inherited.expires_at is not None
    assert as_utc(inherited.expires_at) == ends
    narrower, _ = accounts.create_key(
        session,
        limited,
        tenant_id=limited.tenant_id,
        allowed_models=["template-b"],
        rpm_limit=5,
        expires_at=ends - timedelta(hours=1),
    )
    assert (narrower.allowed_models, narrower.rpm_limit, narrower.tpm_limit) == (
        ["template-b"],
        5,
        1000,
    )
    wider: list[dict[str, object]] = [
        {"allowed_models": ["template-a", "template-c"]},
        {"rpm_limit": 11},
        {"tpm_limit": 1001},
        {"expires_at": ends + timedelta(seconds=1)},
    ]
    for asked in wider:
        with pytest.raises(PermissionDenied) as refused:
            accounts.create_key(session, limited, tenant_id=limited.tenant_id, **asked)  # type: ignore[arg-type]
        assert refused.value.param == next(iter(asked))
    # An unlimited key (and a console sign-in, which has no key) gives what it is asked for.
    free, _ = accounts.create_key(session, admin, tenant_id=admin.tenant_id, rpm_limit=99)
    assert (free.allowed_models, free.rpm_limit, free.expires_at) == (None, 99, None)


def test_a_limited_key_sets_no_password_of_another(session: Session) -> None:
    """A limited admin key made a user (or reset a member's password) and signed in with it,
    where none of the key's limits hold."""
    admin = _admin_of(session, "A")
    member = accounts.create_user(
        session,
        admin,
        tenant_id=admin.tenant_id,
        username="wu.fan",
        password="x" * 8,
        role="member",
    )
    soon = datetime.now(UTC) + timedelta(days=1)
    limits: list[dict[str, object]] = [
        {"allowed_models": ["template-a"]},
        {"rpm_limit": 10},
        {"tpm_limit": 10},
        {"expires_at": soon},
    ]
    for limit in limits:
        _, secret = accounts.create_key(
            session,
            admin,
            tenant_id=admin.tenant_id,
            role="admin",
            **limit,  # type: ignore[arg-type]
        )
        limited = authenticate_key(session, secret)
        with pytest.raises(PermissionDenied) as refused:
            accounts.create_user(
                session,
                limited,
                tenant_id=limited.tenant_id,
                username=f"new-{next(iter(limit))}",
                password="y" * 8,
                role="viewer",
            )
        assert refused.value.param == "password"
        with pytest.raises(PermissionDenied):
            accounts.update_user(session, limited, member.id, {"password": "taken over"})
        renamed = accounts.update_user(session, limited, member.id, {"display_name": "Wu"})
        assert renamed.display_name == "Wu"  # other changes stay the admin's
    made = accounts.create_user(
        session,
        admin,
        tenant_id=admin.tenant_id,
        username="by-an-unlimited-key",
        password="z" * 8,
        role="viewer",
    )
    assert accounts.update_user(session, admin, made.id, {"password": "reset it"}).id == made.id


# One key of each limit; "admin" role, made by an unlimited admin.
LIMITS: list[dict[str, object]] = [
    {"allowed_models": ["template-a"]},
    {"rpm_limit": 10},
    {"tpm_limit": 10},
    {"expires_at": datetime.now(UTC) + timedelta(days=30)},
]


def _limited_admin(session: Session, admin: Principal, limit: dict[str, object]) -> Principal:
    _, secret = accounts.create_key(
        session,
        admin,
        tenant_id=admin.tenant_id,
        role="admin",
        **limit,  # type: ignore[arg-type]
    )
    return authenticate_key(session, secret)


@contextmanager
def _refused(param: str) -> Iterator[None]:
    """The block raises the limited key's 403, naming ``param``."""
    with pytest.raises(PermissionDenied) as refused:
        yield
    assert (refused.value.param, refused.value.code) == (param, "limited_api_key")


def test_a_limited_key_widens_no_ones_access(session: Session) -> None:
    """A limited admin key promoted a member (whose sign-in and keys then acted as an admin,
    with none of the key's limits), enabled a disabled account, put people in groups and
    rewrote a knowledge base's access list: each outlives the key and holds none of its
    limits. Narrowing stays the admin's: demoting, disabling, removing from a group."""
    admin = _admin_of(session, "A")
    member = accounts.create_user(
        session, admin, tenant_id=admin.tenant_id, username="li.na", password="x" * 8, role="member"
    )
    group = accounts.create_group(session, admin, "finance")
    kb = bases.create_kb(session, admin, "Payroll")
    for limit in LIMITS:
        limited = _limited_admin(session, admin, limit)
        with _refused("role"):
            accounts.update_user(session, limited, member.id, {"role": "admin"})
        accounts.update_user(session, limited, member.id, {"role": "viewer"})
        accounts.update_user(session, limited, member.id, {"disabled": True})
        with _refused("disabled"):
            accounts.update_user(session, limited, member.id, {"disabled": False})
        with _refused("user_id"):
            accounts.add_group_member(session, limited, group.id, member.id)
        accounts.add_group_member(session, admin, group.id, member.id)
        accounts.remove_group_member(session, limited, group.id, member.id)
        with _refused("access"):
            bases.update_kb(
                session, limited, kb.id, access=[{"role": "viewer", "access": "manage"}]
            )
        assert bases.update_kb(session, limited, kb.id, description="Salaries").description
        # The unlimited key that made it may do each of them.
        accounts.update_user(session, admin, member.id, {"role": "member", "disabled": False})
    assert member.role == "member" and not member.disabled
    assert bases.grants_of(session, kb) == [
        {"role": r["role"], "access": r["access"]} for r in bases.DEFAULT_ACCESS
    ]


def test_a_key_limited_to_models_makes_and_removes_only_those(session: Session) -> None:
    """A key limited to template-a registered, trained and deleted models of any name: models
    of the organization it may not use, chosen or removed for everyone else."""
    registry = ModelRegistry()
    admin = _admin_of(session, "A")
    registry.register(session, admin, "template-b", {"yaml": TINY})
    limited = _limited_admin(session, admin, {"allowed_models": ["template-a"]})
    with pytest.raises(PermissionDenied) as registered:
        registry.register(session, limited, "template-c", {"yaml": TINY})
    assert (registered.value.param, registered.value.code) == ("id", "model_not_allowed")
    with pytest.raises(PermissionDenied) as trained:
        start_training(session, limited, "gpt", "gpt-c", {})
    assert (trained.value.param, trained.value.code) == ("name", "model_not_allowed")
    with pytest.raises(PermissionDenied) as deleted:
        registry.delete(session, limited, "template-b")
    assert deleted.value.code == "model_not_allowed"
    assert registry.register(session, limited, "template-a", {"yaml": TINY}).name == "template-a"
    registry.delete(session, limited, "template-a")
    assert [m.name for m in registry.visible(session, admin)] == ["template-b"]


def test_a_persons_keys_follow_them_when_demoted_or_deleted(session: Session) -> None:
    """A key an admin made for themselves (no user named, as the console makes them) was a key
    with no user: demoted or deleted, the admin kept acting as one through it."""
    platform = _admin_of(session, "A")
    person = accounts.create_user(
        session,
        platform,
        tenant_id=platform.tenant_id,
        username="zhao.lei",
        password="x" * 8,
        role="admin",
    )
    _, own = accounts.create_key(
        session, platform, tenant_id=platform.tenant_id, role="admin", user_id=person.id
    )
    as_person = authenticate_key(session, own)
    _, secret = accounts.create_key(session, as_person, tenant_id=as_person.tenant_id, role="admin")
    assert authenticate_key(session, secret).role == "admin"
    accounts.update_user(session, platform, person.id, {"role": "member"})
    assert authenticate_key(session, secret).role == "member"
    with pytest.raises(PermissionDenied):
        accounts.list_users(session, authenticate_key(session, secret))
    accounts.update_user(session, platform, person.id, {"disabled": True})
    with pytest.raises(AuthenticationFailed) as disabled:
        authenticate_key(session, secret)
    assert disabled.value.code == "account_disabled"
    accounts.delete_user(session, platform, person.id)
    with pytest.raises(AuthenticationFailed) as deleted:
        authenticate_key(session, secret)
    assert deleted.value.code == "revoked_api_key"
    # An unbound key (the operator's, or made by one) still makes unbound keys.
    service, _ = accounts.create_key(session, platform, tenant_id=platform.tenant_id)
    assert service.user_id is None


def test_roles_bound_what_a_caller_may_grant(session: Session) -> None:
    admin = _admin_of(session, "A")
    with pytest.raises(PermissionDenied):
        accounts.create_key(session, admin, tenant_id=admin.tenant_id, role="owner")
    with pytest.raises(PermissionDenied):
        accounts.create_user(
            session,
            admin,
            tenant_id=admin.tenant_id,
            username="boss",
            password="x" * 8,
            role="owner",
        )
    _, member_secret = accounts.create_key(session, admin, tenant_id=admin.tenant_id, role="member")
    member = authenticate_key(session, member_secret)
    with pytest.raises(PermissionDenied):
        accounts.list_keys(session, member)
    with pytest.raises(PermissionDenied):
        accounts.create_group(session, member, "ops")
    with pytest.raises(PermissionDenied):
        accounts.list_tenants(session, admin)


def test_objects_of_another_tenant_do_not_exist(session: Session) -> None:
    a, b = _admin_of(session, "A"), _admin_of(session, "B")
    user = accounts.create_user(
        session, a, tenant_id=a.tenant_id, username="zhang.san", password="password1", role="member"
    )
    group = accounts.create_group(session, a, "财务部")
    accounts.add_group_member(session, a, group.id, user.id)
    key, _ = accounts.create_key(session, a, tenant_id=a.tenant_id)
    for call in (
        lambda: accounts.get_user(session, b, user.id),
        lambda: accounts.update_user(session, b, user.id, {"role": "admin"}),
        lambda: accounts.delete_user(session, b, user.id),
        lambda: accounts.get_group(session, b, group.id),
        lambda: accounts.delete_group(session, b, group.id),
        lambda: accounts.get_key(session, b, key.id),
        lambda: accounts.revoke_key(session, b, key.id),
    ):
        with pytest.raises(NotFound):
            call()
    b_group = accounts.create_group(session, b, "ops")
    with pytest.raises(NotFound):
        accounts.add_group_member(session, b, b_group.id, user.id)
    assert user.id not in [u.id for u in accounts.list_users(session, b)]
    assert group.id not in [g.id for g in accounts.list_groups(session, b)]
    assert key.id not in [k.id for k in accounts.list_keys(session, b)]
    with pytest.raises(PermissionDenied):
        accounts.list_users(session, b, tenant_id=a.tenant_id)
    assert accounts.group_member_ids(session, group.id) == [user.id]


def test_usernames_are_unique(session: Session) -> None:
    a = _admin_of(session, "A")
    accounts.create_user(
        session, a, tenant_id=a.tenant_id, username="wang", password="password1", role="member"
    )
    with pytest.raises(Conflict):
        accounts.create_user(
            session, a, tenant_id=a.tenant_id, username="wang", password="password2", role="member"
        )


def test_registry_resolves_own_then_shared_and_hides_other_tenants(session: Session) -> None:
    registry = ModelRegistry()
    ensure_builtin_models(session)
    a, b = _admin_of(session, "A"), _admin_of(session, "B")
    registry.register(session, a, "template-faq", {"yaml": TINY})
    assert registry.resolve(session, a, "template-faq").tenant_id == a.tenant_id
    assert registry.resolve(session, b, "template-helpdesk").tenant_id is None
    with pytest.raises(ModelNotFound):
        registry.resolve(session, b, "template-faq")
    with pytest.raises(ModelNotFound):
        registry.delete(session, b, "template-faq")
    assert "template-faq" not in [m.name for m in registry.visible(session, b)]
    with pytest.raises(PermissionDenied):
        registry.delete(session, a, "template-helpdesk")  # shared: platform admin only
    with pytest.raises(InvalidRequest):
        registry.register(session, a, "template-bad", {"yaml": "intents: [oops"})
    with pytest.raises(InvalidRequest):
        registry.register(session, a, "nofamily", {"yaml": TINY})
    with pytest.raises(PermissionDenied):
        registry.register(session, a, "template-path", {"path": "/etc/passwd"})
    model = registry.load(registry.resolve(session, a, "template-faq"))
    from aigc.models.protocols import ChatMessage, TextRequest

    reply = "".join(
        model.generate(TextRequest(messages=[ChatMessage("user", "hello")], temperature=0))
    )
    assert reply == "Hello from A!"


def test_allow_list_and_readiness(session: Session) -> None:
    registry = ModelRegistry()
    a = _admin_of(session, "A")
    record = registry.register(session, a, "template-faq", {"yaml": TINY})
    _, secret = accounts.create_key(
        session, a, tenant_id=a.tenant_id, allowed_models=["template-other"]
    )
    with pytest.raises(PermissionDenied):
        registry.resolve(session, authenticate_key(session, secret), "template-faq")
    record.status = "training"
    with pytest.raises(ModelNotReady) as busy:
        registry.resolve(session, a, "template-faq")
    assert busy.value.headers["Retry-After"]


def test_no_caller_names_a_blob_store_folder_for_a_model(session: Session) -> None:
    """``config.storage`` is where training put a model's folder; registered by hand it made
    the server materialise any prefix of the store (every organization's models, under
    ``models/``) and prune the cached versions of the folder it named."""
    a = _admin_of(session, "A")
    platform = Principal(tenant_id=a.tenant_id, role="owner", platform_admin=True)
    registry = ModelRegistry()
    storage = {"prefix": "models/", "version": "v1"}
    for caller in (a, platform, None):
        with pytest.raises(InvalidRequest) as refused:
            registry.register(
                session, caller, "template-stored", {"yaml": TINY, "storage": storage}
            )
        assert refused.value.param == "config.storage"
    assert "template-stored" not in [m.name for m in registry.visible(session, a)]
