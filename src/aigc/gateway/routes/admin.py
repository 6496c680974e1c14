"""Management API under /api: organizations, users, groups, API keys, models, usage, audit.

Routes only translate HTTP to the plain functions in ``accounts``, the registry and the audit
module; every permission and tenant check lives in those functions.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from aigc.access import Principal, Role, require_platform_admin, require_role
from aigc.errors import refused_value
from aigc.gateway import accounts
from aigc.gateway.deps import principal, services
from aigc.gateway.fields import Count32, Count64, Name
from aigc.gateway.openapi import BODY_ID, errors, link, links
from aigc.gateway.services import Services
from aigc.gateway.sso import providers as sso_providers
from aigc.infra import audit
from aigc.models import resources, upstream_allowlist
from aigc.models.registry import model_view

router = APIRouter(prefix="/api", tags=["management"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantIn(Strict):
    name: Name
    daily_token_budget: Count64 | None = None  # true is no 1


class TenantPatch(Strict):
    name: Name | None = None
    daily_token_budget: Count64 | None = None  # true is no 1
    disabled: bool | None = None
    passwords_disabled: bool | None = Field(
        default=None, description="Members sign in only through SSO (needs an enabled provider)"
    )


class UserIn(Strict):
    username: Name
    password: str = Field(min_length=8, max_length=1000)
    role: Role = "member"
    display_name: str = Field(default="", max_length=200)
    tenant_id: str | None = None


class UserPatch(Strict):
    role: Role | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    current_password: str | None = Field(
        default=None,
        max_length=1000,
        description="Your current password: needed to change your own (not another user's)",
    )
    display_name: str | None = Field(default=None, max_length=200)
    disabled: bool | None = None


class GroupIn(Strict):
    name: Name
    tenant_id: str | None = None


class MemberIn(Strict):
    user_id: str


class KeyIn(Strict):
    name: str = Field(default="", max_length=200)
    role: Role = "member"
    tenant_id: str | None = None
    user_id: str | None = None
    expires_at: datetime | None = Field(default=None, description="In the future (400 if not)")
    allowed_models: list[str] | None = None
    rpm_limit: Count32 | None = None
    tpm_limit: Count32 | None = None


def _registrable_families(schema: dict[str, Any]) -> None:
    """Write into the schema what registration checks: an id that starts with a family that can
    be registered by config, and a config of that family's shape.

    Called when the OpenAPI document is generated, after the server has loaded its families
    (plugins included)."""
    from aigc.models.family import families

    schema["oneOf"] = [
        {
            "properties": {
                "id": {"pattern": f"^{family.name}-"},
                "config": family.config_schema or {"type": "object"},
            }
        }
        for family in families()
        if family.validate is not None
    ]


class ModelIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_registrable_families)
    id: str = Field(min_length=3, max_length=200)
    config: dict[str, Any]
    shared: bool = Field(default=False, description="For every organization (platform admin)")


def _listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items}


def _set(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


# --- who am I ------------------------------------------------------------------------------


@router.get("/me", responses=errors(401))
def me(caller: Principal = Depends(principal)) -> dict[str, Any]:
    return {
        "tenant_id": caller.tenant_id,
        "role": caller.role,
        "key_id": caller.key_id,
        "user_id": caller.user_id,
        "platform_admin": caller.platform_admin,
    }


# --- organizations (platform admin) --------------------------------------------------------


@router.get("/tenants", responses=errors(401, 403))
def list_tenants(caller: Principal = Depends(principal), svc: Services = Depends(services)) -> Any:
    with svc.db.session() as s:
        return _listing([accounts.tenant_view(t) for t in accounts.list_tenants(s, caller)])


@router.post(
    "/tenants",
    status_code=201,
    responses=errors(400, 401, 403, 409, 413)
    | links(
        201,
        GetTenant=link("GET", "/api/tenants/{tenant_id}", tenant_id=BODY_ID),
        UpdateTenant=link("PATCH", "/api/tenants/{tenant_id}", tenant_id=BODY_ID),
        DeleteTenant=link("DELETE", "/api/tenants/{tenant_id}", tenant_id=BODY_ID),
    ),
)
def create_tenant(
    body: TenantIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return accounts.tenant_view(
            accounts.create_tenant(s, caller, body.name, body.daily_token_budget)
        )


@router.get("/tenants/{tenant_id}", responses=errors(401, 403, 404))
def get_tenant(
    tenant_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return accounts.tenant_view(accounts.get_tenant(s, caller, tenant_id))


@router.patch("/tenants/{tenant_id}", responses=errors(400, 401, 403, 404, 409, 413))
def update_tenant(
    tenant_id: str,
    body: TenantPatch,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    changes = _set(body)
    passwords_disabled = changes.pop("passwords_disabled", None)
    with svc.db.session() as s:
        tenant = accounts.update_tenant(s, caller, tenant_id, changes)
        if passwords_disabled is not None:
            tenant = sso_providers.set_passwords_disabled(s, caller, tenant_id, passwords_disabled)
        view = accounts.tenant_view(tenant)
    svc.keys.clear()  # budgets and disabled flags travel with cached principals
    return view


@router.delete("/tenants/{tenant_id}", responses=errors(401, 403, 404))
def delete_tenant(
    tenant_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        accounts.delete_tenant(s, caller, tenant_id)
    svc.keys.clear()
    return {"id": tenant_id, "object": "organization", "deleted": True}


# --- users ---------------------------------------------------------------------------------


@router.get("/users", responses=errors(401, 403, 404))
def list_users(
    tenant_id: str | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        return _listing([accounts.user_view(u) for u in accounts.list_users(s, caller, tenant_id)])


@router.post(
    "/users",
    status_code=201,
    responses=errors(400, 401, 403, 404, 409, 413)
    | links(
        201,
        GetUser=link("GET", "/api/users/{user_id}", user_id=BODY_ID),
        UpdateUser=link("PATCH", "/api/users/{user_id}", user_id=BODY_ID),
        DeleteUser=link("DELETE", "/api/users/{user_id}", user_id=BODY_ID),
    ),
)
def create_user(
    body: UserIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        user = accounts.create_user(
            s,
            caller,
            tenant_id=body.tenant_id or caller.tenant_id,
            username=body.username,
            password=body.password,
            role=body.role,
            display_name=body.display_name,
        )
        return accounts.user_view(user)


@router.get("/users/{user_id}", responses=errors(401, 403, 404))
def get_user(
    user_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return accounts.user_view(accounts.get_user(s, caller, user_id))


@router.patch("/users/{user_id}", responses=errors(400, 401, 403, 404, 413))
def update_user(
    user_id: str,
    body: UserPatch,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        view = accounts.user_view(accounts.update_user(s, caller, user_id, _set(body)))
    svc.keys.clear()  # cached principals carry the user's role and disabled flag
    return view


@router.delete("/users/{user_id}", responses=errors(401, 403, 404))
def delete_user(
    user_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        accounts.delete_user(s, caller, user_id)
    svc.keys.clear()
    return {"id": user_id, "object": "user", "deleted": True}


# --- groups --------------------------------------------------------------------------------


@router.get("/groups", responses=errors(401, 403, 404))
def list_groups(
    tenant_id: str | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        groups = accounts.list_groups(s, caller, tenant_id)
        return _listing(
            [accounts.group_view(g, accounts.group_member_ids(s, g.id)) for g in groups]
        )


@router.post(
    "/groups",
    status_code=201,
    responses=errors(400, 401, 403, 404, 409, 413)
    | links(
        201,
        GetGroup=link("GET", "/api/groups/{group_id}", group_id=BODY_ID),
        AddMember=link("POST", "/api/groups/{group_id}/members", group_id=BODY_ID),
        DeleteGroup=link("DELETE", "/api/groups/{group_id}", group_id=BODY_ID),
    ),
)
def create_group(
    body: GroupIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return accounts.group_view(accounts.create_group(s, caller, body.name, body.tenant_id), [])


@router.get("/groups/{group_id}", responses=errors(401, 403, 404))
def get_group(
    group_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        group = accounts.get_group(s, caller, group_id)
        return accounts.group_view(group, accounts.group_member_ids(s, group.id))


@router.delete("/groups/{group_id}", responses=errors(401, 403, 404))
def delete_group(
    group_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        accounts.delete_group(s, caller, group_id)
    return {"id": group_id, "object": "group", "deleted": True}


@router.post(
    "/groups/{group_id}/members",
    status_code=201,
    responses=errors(400, 401, 403, 404, 413)
    | links(
        201,
        RemoveMember=link(
            "DELETE",
            "/api/groups/{group_id}/members/{user_id}",
            group_id=BODY_ID,
            user_id="$request.body#/user_id",
        ),
    ),
)
def add_member(
    group_id: str,
    body: MemberIn,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        accounts.add_group_member(s, caller, group_id, body.user_id)
        group = accounts.get_group(s, caller, group_id)
        return accounts.group_view(group, accounts.group_member_ids(s, group_id))


@router.delete("/groups/{group_id}/members/{user_id}", responses=errors(401, 403, 404))
def remove_member(
    group_id: str,
    user_id: str,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        accounts.remove_group_member(s, caller, group_id, user_id)
        group = accounts.get_group(s, caller, group_id)
        return accounts.group_view(group, accounts.group_member_ids(s, group_id))


# --- API keys ------------------------------------------------------------------------------


@router.get("/keys", responses=errors(401, 403, 404))
def list_keys(
    tenant_id: str | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        return _listing([accounts.key_view(k) for k in accounts.list_keys(s, caller, tenant_id)])


@router.post(
    "/keys",
    status_code=201,
    responses=errors(400, 401, 403, 404, 413)
    | links(
        201,
        GetKey=link("GET", "/api/keys/{key_id}", key_id=BODY_ID),
        RevokeKey=link("DELETE", "/api/keys/{key_id}", key_id=BODY_ID),
    ),
)
def create_key(
    body: KeyIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    """The answer holds the key's secret in ``key``: the only time it is ever shown."""
    with svc.db.session() as s:
        key, secret = accounts.create_key(
            s,
            caller,
            tenant_id=body.tenant_id or caller.tenant_id,
            name=body.name,
            role=body.role,
            user_id=body.user_id,
            expires_at=body.expires_at,
            allowed_models=body.allowed_models,
            rpm_limit=body.rpm_limit,
            tpm_limit=body.tpm_limit,
        )
        return accounts.key_view(key) | {"key": secret}


@router.get("/keys/{key_id}", responses=errors(401, 403, 404))
def get_key(
    key_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return accounts.key_view(accounts.get_key(s, caller, key_id))


@router.delete("/keys/{key_id}", responses=errors(401, 403, 404))
def revoke_key(
    key_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        view = accounts.key_view(accounts.revoke_key(s, caller, key_id))
    svc.keys.clear()
    return view


# --- models --------------------------------------------------------------------------------


@router.get("/models", responses=errors(401))
def list_models(caller: Principal = Depends(principal), svc: Services = Depends(services)) -> Any:
    with svc.db.session() as s:
        return _listing([model_view(r) for r in svc.registry.visible(s, caller)])


@router.post(
    "/models",
    status_code=201,
    responses=errors(400, 401, 403, 409, 413)
    | links(
        201,
        GetModel=link("GET", "/v1/models/{model}", model=BODY_ID),
        ModelStatus=link("GET", "/api/models/{model}/status", model=BODY_ID),
        DeleteModel=link("DELETE", "/api/models/{model}", model=BODY_ID),
    ),
)
def register_model(
    body: ModelIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        record = svc.registry.register(s, caller, body.id, body.config, shared=body.shared)
        view = model_view(record)
    svc.models_changed()
    return view


@router.get("/models/{model:path}/status", responses=errors(401, 403, 404))
def model_status(
    model: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    """Loaded or not, device and memory, engine batch and queue, upstream circuits."""
    with svc.db.session() as s:
        record = svc.registry.find(s, caller, model)
    return resources.status_view(record, svc.registry.loaded(record), caller)


@router.delete("/models/{model:path}", responses=errors(401, 403, 404))
def delete_model(
    model: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        svc.registry.delete(s, caller, model)
    svc.models_changed()
    return {"id": model, "object": "model", "deleted": True}


# --- usage and audit -----------------------------------------------------------------------


# What group_by takes: day, key_id and model, comma-separated, blanks and spaces around allowed.
GROUP_BY = r"^ *(day|key_id|model)? *(, *(day|key_id|model)? *)*$"


def _iso(day: date | None) -> str | None:
    """A day checked by the query's type (a real calendar day, else 400 naming it)."""
    return day.isoformat() if day is not None else None


@router.get("/usage", responses=errors(400, 401, 403, 404))
def usage(
    since: date | None = Query(default=None, description="First day, YYYY-MM-DD (UTC)"),
    until: date | None = Query(default=None, description="Last day, YYYY-MM-DD (UTC)"),
    group_by: str = Query(  # checked below, naming what is unknown
        default="day,model",
        description="Comma-separated, any of day, key_id, model (none: one row of totals)",
        json_schema_extra={"pattern": GROUP_BY},
    ),
    tenant_id: str | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    require_role(caller, "admin")
    fields = [f.strip() for f in group_by.split(",") if f.strip()]
    unknown = set(fields) - {"day", "key_id", "model"}
    if unknown:
        raise refused_value(
            "group_by_unknown",
            "group_by takes {expected}; not {unknown}",
            param="group_by",
            expected="day, key_id and model",
            unknown=", ".join(sorted(unknown)),
        )
    with svc.db.session() as s:
        tenant = accounts.target_tenant(s, caller, tenant_id)
    return _listing(audit.usage(svc.db, tenant, _iso(since), _iso(until), fields))


@router.get("/audit", responses=errors(400, 401, 403, 404))
def list_audit(
    since: date | None = Query(default=None, description="First day, YYYY-MM-DD (UTC)"),
    until: date | None = Query(default=None, description="Last day, YYYY-MM-DD (UTC)"),
    key_id: str | None = None,
    user_id: str | None = None,
    model: str | None = None,
    endpoint: str | None = Query(default=None, max_length=200),
    status: str | None = Query(default=None, pattern=r"^([1-5]xx|[1-5]\d\d)$"),
    limit: int = Query(default=50, ge=1, le=audit.MAX_PAGE),
    offset: int = Query(default=0, ge=0),
    tenant_id: str | None = None,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    """The tenant's audit rows, newest first: ids, route, model, status, counts; no text."""
    require_role(caller, "admin")
    with svc.db.session() as s:
        tenant = accounts.target_tenant(s, caller, tenant_id)
    with contextlib.suppress(TimeoutError):  # the caller's latest requests, if quick to land
        svc.audit.flush(timeout=2.0)
    where = audit.AuditFilter(_iso(since), _iso(until), key_id, user_id, model, endpoint, status)
    total, rows = audit.records(svc.db, tenant, where, limit, offset)
    return _listing(rows) | {"total": total, "limit": limit, "offset": offset}


@router.get("/audit/verify", responses=errors(401, 403))
def verify_audit(caller: Principal = Depends(principal), svc: Services = Depends(services)) -> Any:
    require_platform_admin(caller)
    svc.audit.flush()
    result = svc.audit_log.verify()
    return {"ok": result.ok, "count": result.count, "problems": result.problems}


class AllowlistIn(Strict):
    # Checked (each refusal naming its pattern) and normalised by upstream_allowlist, which
    # also forgives what the schema leaves out (white space around a pattern). The schema
    # shows the rules; the check enforces them.
    patterns: list[Any] = Field(
        json_schema_extra={
            "maxItems": upstream_allowlist.MAX_PATTERNS,
            "items": {
                "type": "string",
                "pattern": upstream_allowlist.PATTERN,
                "maxLength": upstream_allowlist.MAX_PATTERN_CHARS,
                "description": "scheme://host-with-*-wildcards[:port][/path] (https by default)",
            },
        }
    )


@router.get("/platform/upstream-allowlist", responses=errors(401, 403))
def get_upstream_allowlist(
    caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        return upstream_allowlist.view(s, caller, svc.settings)


@router.put("/platform/upstream-allowlist", responses=errors(400, 401, 403, 413))
def put_upstream_allowlist(
    body: AllowlistIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        upstream_allowlist.replace(s, caller, body.patterns)
        return upstream_allowlist.view(s, caller, svc.settings)
