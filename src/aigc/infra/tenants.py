"""The operator's own organization ("default"), found or created on first use.

Below the gateway because more than the HTTP layer needs it: the CLI and the first-run page
act in it, and the default-model bootstrap in ``models`` queues its training jobs in it (jobs
belong to a tenant; the models they make are shared).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal, platform_principal
from aigc.infra.schema import Tenant, new_id

DEFAULT_TENANT = "default"


def default_tenant(session: Session) -> Tenant:
    """The operator's own organization, created on first start."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == DEFAULT_TENANT))
    if tenant is None:
        tenant = Tenant(id=new_id("org_"), name=DEFAULT_TENANT, daily_token_budget=None)
        session.add(tenant)
        session.flush()
    return tenant


def platform_operator(session: Session) -> Principal:
    """The platform operator acting in its own organization (shared default models)."""
    return platform_principal(default_tenant(session).id)
