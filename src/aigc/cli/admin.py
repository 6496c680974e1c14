"""`aigc admin` (organizations, users, the setup link) and `aigc keys`."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from aigc.cli.common import err, out, session, tenant_id
from aigc.config import Settings

admin_app = typer.Typer(help="Organizations and users", no_args_is_help=True)
keys_app = typer.Typer(help="API keys", no_args_is_help=True)


@admin_app.command("create-tenant")
def create_tenant(
    name: str,
    daily_token_budget: Annotated[int | None, typer.Option(help="Tokens per UTC day")] = None,
) -> None:
    """Create an organization."""
    from aigc.gateway import accounts

    with session() as s:
        tenant = accounts.create_tenant(s, None, name, daily_token_budget)
        out.print(f"created organization {tenant.name} ({tenant.id})")


@admin_app.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(prompt=True)],
    role: Annotated[str, typer.Option(help="owner, admin, member or viewer")] = "member",
    tenant: Annotated[str | None, typer.Option(help="Organization id or name")] = None,
    display_name: str = "",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin")] = False,
) -> None:
    """Create a user (the first owner of an install is also the platform administrator)."""
    from aigc.gateway import accounts, first_run

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif os.environ.get("AIGC_NEW_PASSWORD"):
        password = os.environ["AIGC_NEW_PASSWORD"]
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with session() as s:
        first_owner = role == "owner" and not accounts.has_owner(s)
        user = accounts.create_user(
            s,
            None,
            tenant_id=tenant_id(s, tenant),
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            platform_admin=first_owner and tenant is None,
        )
        if user.platform_admin:  # the install's owner: the setup link has done its work
            first_run.finish_setup(s)
        out.print(f"created user {user.username} ({user.id}), role {user.role}")


@admin_app.command("setup-url")
def setup_url() -> None:
    """Issue a new one-time link to create the owner account in the console."""
    from aigc.gateway import accounts, first_run

    settings = Settings()
    with session() as s:
        if accounts.has_owner(s):
            err.print("An owner account exists already; setup is complete.")
            raise typer.Exit(1)
        token = first_run.new_setup_token(s)
    out.print(f"{settings.base_url}/setup?token={token}")


@admin_app.command("list-tenants")
def list_tenants() -> None:
    from aigc.infra.schema import Tenant

    table = Table("id", "name", "daily budget", "disabled")
    with session() as s:
        for t in s.scalars(select(Tenant).order_by(Tenant.created_at)):
            table.add_row(t.id, t.name, str(t.daily_token_budget or "-"), str(t.disabled))
    out.print(table)


# --- keys ----------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str | None, typer.Option(help="Organization id or name")] = None,
    name: str = "",
    role: str = "member",
    expires_days: Annotated[float | None, typer.Option(help="Expire after N days")] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated allow-list")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute")] = None,
) -> None:
    """Create an API key; its secret is printed once and never stored."""
    from aigc.gateway import accounts

    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    allow = [m.strip() for m in models.split(",") if m.strip()] if models else None
    with session() as s:
        key, secret = accounts.create_key(
            s,
            None,
            tenant_id=tenant_id(s, tenant),
            name=name,
            role=role,
            expires_at=expires,
            allowed_models=allow,
            rpm_limit=rpm,
            tpm_limit=tpm,
        )
        err.print(f"created key {key.id} (shown once; store it now):")
        print(secret)


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option()] = None) -> None:
    from aigc.infra.schema import ApiKey

    table = Table("id", "prefix", "name", "role", "models", "rpm", "tpm", "expires", "revoked")
    with session() as s:
        rows = s.scalars(
            select(ApiKey)
            .where(ApiKey.tenant_id == tenant_id(s, tenant))
            .order_by(ApiKey.created_at)
        )
        for k in rows:
            table.add_row(
                k.id,
                k.prefix + "…",
                k.name,
                k.role,
                ",".join(k.allowed_models or []) or "all",
                str(k.rpm_limit or "-"),
                str(k.tpm_limit or "-"),
                str(k.expires_at or "-"),
                str(k.revoked_at or "-"),
            )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    from aigc.gateway import accounts

    with session() as s:
        accounts.revoke_key(s, None, key_id)
    out.print(f"revoked {key_id}")
