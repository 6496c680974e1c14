"""SSO providers of an organization, under /api/tenants/{tenant_id}/sso: the platform admin's.

Thin: bodies are checked here, everything else (who may, which organization, encryption of the
client secret) in ``gateway/sso/providers.py``. No answer ever holds the client secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, StrictInt, StrictStr
from pydantic import StringConstraints as Text
from starlette.concurrency import run_in_threadpool

from aigc.access import Principal, Role
from aigc.gateway.deps import principal, services
from aigc.gateway.fields import NOT_BLANK, SPACE, Kept, Name
from aigc.gateway.openapi import BODY_ID, errors, link, links
from aigc.gateway.services import Services
from aigc.gateway.sso import mapping, oidc, providers
from aigc.gateway.sso.signin import endpoint_of

router = APIRouter(prefix="/api/tenants/{tenant_id}/sso", tags=["sso"])
ONE = "/api/tenants/{tenant_id}/sso/providers/{provider_id}"
TENANT = "$request.path.tenant_id"  # a link stays in the organization it was made in

ProviderName = Annotated[
    str, Text(strip_whitespace=True, min_length=1, max_length=100, pattern=NOT_BLANK)
]
Short = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=300, pattern=NOT_BLANK)]
# What providers.check_issuer accepts, written for the schema: an http(s) URL with a DNS name
# or IPv4 address, a valid port, a path, no credentials, query or fragment. (https is required
# to *reach* it unless the provider allows private networks: oidc.py refuses then.)
_PORT = r"(:(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4}))?"
ISSUER = r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?" + _PORT + f"(/[^?#{SPACE}]*)?$"
Issuer = Annotated[str, Text(max_length=500, pattern=ISSUER)]
Scope = Annotated[str, Text(max_length=100, pattern=providers.SCOPE_PATTERN)]
Domain = Annotated[str, Text(max_length=254, pattern=providers.DOMAIN_PATTERN)]
# exactly one of role and group, each a value when given (what check_rules says)
ONE_GRANT: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["role"],
            "properties": {"role": {"type": "string"}, "group": {"type": "null"}},
        },
        {
            "required": ["group"],
            "properties": {"group": {"type": "string"}, "role": {"type": "null"}},
        },
    ]
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rule(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_GRANT)
    claim: Annotated[
        str, Text(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
    ]
    value: StrictStr | StrictBool | StrictInt = Field(description="Equal to, or in, the claim")
    role: Role | None = Field(default=None, description="Granted when the rule matches")
    group: Name | None = Field(default=None, description="Joined when it matches, else left")


# The lists' and the secret's bounds go with their types, so that the patch's fields (which
# may also be left out) carry the same ones.
Secret = Annotated[SecretStr, Field(min_length=1, max_length=1000)]
Scopes = Annotated[list[Scope], Field(max_length=20)]
Domains = Annotated[list[Domain], Field(max_length=50)]
Rules = Annotated[list[Rule], Field(max_length=providers.MAX_RULES)]


class ProviderIn(Strict):
    name: ProviderName = Field(description='Shown as "Sign in with {name}"')
    issuer: Issuer
    client_id: Short
    client_secret: Secret
    scopes: Scopes = Field(default_factory=lambda: list(providers.DEFAULT_SCOPES))
    allowed_domains: Domains = Field(default_factory=list)
    rules: Rules = Field(default_factory=list)
    default_role: Role | None = Field(default="member", description="null: refuse the unmatched")
    allow_private_network: bool = Field(
        default=False, description="The issuer may be on loopback or a private network"
    )
    enabled: bool = True


class ProviderPatch(Strict):
    """Only the fields sent change (``model_fields_set``): a field left out stays as it is.

    Null clears only where there is an empty state, ``default_role`` (null: refuse the
    unmatched); on every other field it is refused (400, ``Kept``), not taken as "unchanged"."""

    name: Kept[ProviderName] = None
    issuer: Kept[Issuer] = None
    client_id: Kept[Short] = None
    client_secret: Kept[Secret] = None
    scopes: Kept[Scopes] = None
    allowed_domains: Kept[Domains] = None
    rules: Kept[Rules] = None
    default_role: Role | None = Field(default=None, description="null: refuse the unmatched")
    allow_private_network: Kept[bool] = None
    enabled: Kept[bool] = None

    def changes(self) -> dict[str, Any]:
        """The fields sent, as ``providers.update_provider`` takes them: the secret in plain
        text (for it to encrypt), the rules as dicts."""
        changes = self.model_dump(exclude_unset=True)
        if self.client_secret is not None:
            changes["client_secret"] = self.client_secret.get_secret_value()
        if self.rules is not None:
            changes["rules"] = _rules(self.rules)
        return changes


class PreviewIn(Strict):
    claims: dict[str, Any] = Field(description="ID-token claims, as the provider would send")
    rules: list[Rule] | None = Field(
        default=None, max_length=providers.MAX_RULES, description="Default: the saved rules"
    )


def _rules(rules: list[Rule]) -> list[dict[str, Any]]:
    return [r.model_dump(exclude_none=True) for r in rules]


def _listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items}


@router.get("/providers", responses=errors(401, 403, 404))
def list_providers(
    tenant_id: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> Any:
    with svc.db.session() as s:
        rows = providers.list_providers(s, caller, tenant_id)
        return _listing([providers.provider_view(r) for r in rows])


@router.post(
    "/providers",
    status_code=201,
    responses=errors(400, 401, 403, 404, 409, 413)
    | links(
        201,
        GetProvider=link("GET", ONE, tenant_id=TENANT, provider_id=BODY_ID),
        UpdateProvider=link("PATCH", ONE, tenant_id=TENANT, provider_id=BODY_ID),
        DeleteProvider=link("DELETE", ONE, tenant_id=TENANT, provider_id=BODY_ID),
        TestProvider=link("POST", ONE + "/test", tenant_id=TENANT, provider_id=BODY_ID),
        PreviewMapping=link("POST", ONE + "/preview", tenant_id=TENANT, provider_id=BODY_ID),
    ),
)
def create_provider(
    tenant_id: str,
    body: ProviderIn,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    spec = providers.ProviderSpec(
        name=body.name,
        issuer=body.issuer,
        client_id=body.client_id,
        client_secret=body.client_secret.get_secret_value(),
        scopes=body.scopes,
        allowed_domains=body.allowed_domains,
        rules=_rules(body.rules),
        default_role=body.default_role,
        allow_private_network=body.allow_private_network,
        enabled=body.enabled,
    )
    with svc.db.session() as s:
        row = providers.create_provider(s, caller, tenant_id, spec, svc.settings)
        return providers.provider_view(row)


@router.get("/providers/{provider_id}", responses=errors(401, 403, 404))
def get_provider(
    tenant_id: str,
    provider_id: str,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        return providers.provider_view(providers.get_provider(s, caller, tenant_id, provider_id))


@router.patch("/providers/{provider_id}", responses=errors(400, 401, 403, 404, 409, 413))
def update_provider(
    tenant_id: str,
    provider_id: str,
    body: ProviderPatch,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    changes = body.changes()
    with svc.db.session() as s:
        row = providers.update_provider(s, caller, tenant_id, provider_id, changes, svc.settings)
        view = providers.provider_view(row)
    return view


@router.delete("/providers/{provider_id}", responses=errors(401, 403, 404))
def delete_provider(
    tenant_id: str,
    provider_id: str,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    with svc.db.session() as s:
        providers.delete_provider(s, caller, tenant_id, provider_id)
    return {"id": provider_id, "object": "sso_provider", "deleted": True}


@router.post("/providers/{provider_id}/test", responses=errors(401, 403, 404))
async def test_provider(
    tenant_id: str,
    provider_id: str,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    """Fetch the discovery document and the JWKS now (not from the cache) and say what they
    hold, or why they could not be used (``ok: false`` with the reason)."""

    def run() -> dict[str, Any]:
        with svc.db.session() as s:
            endpoint = endpoint_of(providers.get_provider(s, caller, tenant_id, provider_id))
        try:
            meta = oidc.discover(endpoint, force=True)
        except oidc.OidcError as exc:
            return {"ok": False, "reason": exc.reason, "message": exc.detail}
        return {
            "ok": True,
            "issuer": meta.issuer,
            "authorization_endpoint": meta.authorization_endpoint,
            "token_endpoint": meta.token_endpoint,
            "jwks_uri": meta.jwks_uri,
            "end_session_endpoint": meta.end_session_endpoint,
            "keys": len(meta.jwks.get("keys") or []),
            "algorithms": list(meta.algorithms),
        }

    return await run_in_threadpool(run)


@router.post("/providers/{provider_id}/preview", responses=errors(400, 401, 403, 404, 413))
def preview_mapping(
    tenant_id: str,
    provider_id: str,
    body: PreviewIn,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> Any:
    """What a sign-in with these claims would give: the role, the groups, or the refusal."""
    with svc.db.session() as s:
        row = providers.get_provider(s, caller, tenant_id, provider_id)
        rules = _rules(body.rules) if body.rules is not None else list(row.rules)
        default_role, domains = row.default_role, list(row.allowed_domains)
    claims = oidc.as_claims(body.claims)
    refusal = mapping.email_refusal(claims, domains)
    mapped = mapping.apply_rules(rules, default_role, claims)
    if refusal is None and mapped.role is None:
        refusal = "no_role"
    return {
        "object": "sso_mapping_preview",
        "allowed": refusal is None,
        "refusal": refusal,
        "role": mapped.role,
        "groups": list(mapped.groups),
        "groups_left": [g for g in mapped.managed if g not in mapped.groups],
        "matched_rules": list(mapped.matched),
    }
