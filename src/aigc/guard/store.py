"""Policies per tenant in the database, with a short in-process cache for the request path."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from threading import Lock

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.guard.policy import DEFAULT_POLICY, Policy, PolicyError, parse_policy
from aigc.guard.tables import GuardPolicy
from aigc.infra.db import Database
from aigc.infra.schema import new_id

CACHE_SECONDS = 2.0
_cache: dict[str, tuple[float, list[Policy]]] = {}
_lock = Lock()


class PolicyNotFound(LookupError):
    pass


class StoredPolicyUnusable(PolicyError):
    """A stored, enabled policy that no longer loads (e.g. a regex written before patterns had
    to be RE2). Requests fail closed rather than run unguarded, until an admin corrects it."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.name = name
        super().__init__(problems)


def list_policies(session: Session, tenant_id: str) -> list[GuardPolicy]:
    rows = session.scalars(
        select(GuardPolicy).where(GuardPolicy.tenant_id == tenant_id).order_by(GuardPolicy.name)
    )
    return list(rows)


def get_policy(session: Session, tenant_id: str, name: str) -> GuardPolicy:
    row = session.scalar(
        select(GuardPolicy).where(GuardPolicy.tenant_id == tenant_id, GuardPolicy.name == name)
    )
    if row is None:
        raise PolicyNotFound(name)
    return row


def put_policy(
    session: Session, tenant_id: str, yaml_text: str, enabled: bool = True
) -> GuardPolicy:
    """Create or replace the tenant's policy of the document's name (validated first)."""
    policy = parse_policy(yaml_text)
    try:
        row = get_policy(session, tenant_id, policy.name)
        row.yaml, row.enabled, row.updated_at = yaml_text, enabled, datetime.now(UTC)
    except PolicyNotFound:
        row = GuardPolicy(
            id=new_id("pol_"),
            tenant_id=tenant_id,
            name=policy.name,
            yaml=yaml_text,
            enabled=enabled,
        )
        session.add(row)
    session.flush()
    forget(tenant_id)
    return row


def delete_policy(session: Session, tenant_id: str, name: str) -> None:
    session.delete(get_policy(session, tenant_id, name))
    forget(tenant_id)


def forget(tenant_id: str) -> None:
    with _lock:
        _cache.pop(tenant_id, None)


def cached_policies(tenant_id: str) -> list[Policy] | None:
    """The cached policies when fresh (no database call), else None."""
    hit = _cache.get(tenant_id)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    return None


def active_policies(db: Database, tenant_id: str) -> list[Policy]:
    """The tenant's enabled policies, or the default policy when it has none (cached 2 s)."""
    now = time.monotonic()
    cached = cached_policies(tenant_id)
    if cached is not None:
        return cached
    with db.session() as session:
        rows = [r for r in list_policies(session, tenant_id) if r.enabled]
        policies = [_load(r) for r in rows] or [DEFAULT_POLICY]
    with _lock:
        _cache[tenant_id] = (now, policies)
    return policies


def _load(row: GuardPolicy) -> Policy:
    try:
        return parse_policy(row.yaml)
    except PolicyError as exc:
        raise StoredPolicyUnusable(row.name, exc.problems) from None
