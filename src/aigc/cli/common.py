"""What every command group shares: consoles, a migrated database session, owners."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aigc.config import Settings
from aigc.errors import APIError

if TYPE_CHECKING:  # imported where used: the CLI starts without loading them
    from aigc.access import Principal
    from aigc.models.family import Family

out = Console()
err = Console(stderr=True)

TenantOpt = Annotated[str | None, typer.Option(help="Owner organization (default: yours)")]


@contextmanager
def session() -> Iterator[Session]:
    """A migrated database session for one CLI command; API errors become clean messages."""
    from aigc.infra import migrate
    from aigc.infra.db import Database

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.db_url)
    db = Database(settings.db_url)
    try:
        with db.session() as session:
            yield session
    except APIError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        db.dispose()


def tenant_id(session: Session, tenant: str | None) -> str:
    from aigc.infra.schema import Tenant
    from aigc.infra.tenants import default_tenant

    if tenant is None:
        return default_tenant(session).id
    row = session.scalar(select(Tenant).where(or_(Tenant.id == tenant, Tenant.name == tenant)))
    if row is None:
        err.print(f"[red]error:[/red] no organization '{tenant}'")
        raise typer.Exit(1)
    return row.id


def operator(tenant_id: str) -> Principal:
    """The CLI acts as the organization's owner (it runs on the server, as its operator)."""
    from aigc.access import Principal

    return Principal(tenant_id=tenant_id, role="owner", key_id="cli")


def platform_operator(tenant: str | None, s: Session) -> Principal:
    """The local operator training or registering for ``tenant`` (default: the first one)."""
    from aigc.access import platform_principal

    return platform_principal(tenant_id(s, tenant))


def families() -> list[Family]:
    """Every model family, with those named by ``AIGC_FAMILY_MODULES`` (plugins)."""
    from aigc.models.family import load_families

    return load_families(Settings().family_modules)
