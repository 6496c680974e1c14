"""`aigc policies`: the guard's policies per organization (YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aigc.cli.common import err, out, session, tenant_id

policies_app = typer.Typer(help="Guard policies per organization (YAML)", no_args_is_help=True)


@policies_app.command("list")
def policies_list(tenant: Annotated[str | None, typer.Option()] = None) -> None:
    """The organization's policies (the built-in default applies when there are none)."""
    from aigc.guard import store
    from aigc.guard.policy import parse_policy

    table = Table("name", "enabled", "rules", "updated")
    with session() as s:
        for row in store.list_policies(s, tenant_id(s, tenant)):
            rules = len(parse_policy(row.yaml).rules)
            table.add_row(row.name, str(row.enabled), str(rules), str(row.updated_at))
    out.print(table)


@policies_app.command("show")
def policies_show(
    name: Annotated[str, typer.Argument(help="Policy name; 'default' shows the built-in one")],
    tenant: Annotated[str | None, typer.Option()] = None,
) -> None:
    from aigc.guard import store
    from aigc.guard.policy import DEFAULT_POLICY_YAML

    with session() as s:
        try:
            out.print(store.get_policy(s, tenant_id(s, tenant), name).yaml, markup=False)
        except store.PolicyNotFound:
            if name != "default":
                err.print(f"[red]error:[/red] no policy '{name}'")
                raise typer.Exit(1) from None
            out.print(DEFAULT_POLICY_YAML, markup=False)


@policies_app.command("check")
def policies_check(path: Path) -> None:
    """Validate a policy file without saving it; every problem is listed."""
    from aigc.guard.policy import PolicyError, parse_policy

    try:
        policy = parse_policy(path.read_text(encoding="utf-8"))
    except PolicyError as exc:
        for problem in exc.problems:
            err.print(f"[red]problem:[/red] {problem}", markup=True)
        raise typer.Exit(1) from None
    out.print(f"policy '{policy.name}' is valid: {len(policy.rules)} rule(s)")


@policies_app.command("apply")
def policies_apply(
    path: Path,
    tenant: Annotated[str | None, typer.Option()] = None,
    disabled: Annotated[bool, typer.Option(help="Store it switched off")] = False,
) -> None:
    """Create or replace the policy of the file's name (validated first)."""
    from aigc.guard import store
    from aigc.guard.policy import PolicyError

    text = path.read_text(encoding="utf-8")
    with session() as s:
        try:
            row = store.put_policy(s, tenant_id(s, tenant), text, enabled=not disabled)
        except PolicyError as exc:
            for problem in exc.problems:
                err.print(f"[red]problem:[/red] {problem}")
            raise typer.Exit(1) from None
        out.print(f"saved policy '{row.name}' ({'disabled' if disabled else 'enabled'})")


@policies_app.command("delete")
def policies_delete(name: str, tenant: Annotated[str | None, typer.Option()] = None) -> None:
    from aigc.guard import store

    with session() as s:
        try:
            store.delete_policy(s, tenant_id(s, tenant), name)
        except store.PolicyNotFound:
            err.print(f"[red]error:[/red] no policy '{name}'")
            raise typer.Exit(1) from None
    out.print(f"deleted policy '{name}'")


@policies_app.command("try")
def policies_try(
    text: str,
    tenant: Annotated[str | None, typer.Option()] = None,
    model: str = "template-helpdesk",
) -> None:
    """Run the organization's input rules on TEXT: what the model would see, and the codes."""
    from aigc.guard import checks, store
    from aigc.guard.policy import DEFAULT_POLICY, parse_policy, rules_for

    with session() as s:
        rows = [r for r in store.list_policies(s, tenant_id(s, tenant)) if r.enabled]
        policies = [parse_policy(r.yaml) for r in rows] or [DEFAULT_POLICY]
    try:
        result = checks.check_input(rules_for(policies, "input", model, None), [text])
    except checks.Blocked as blocked:
        out.print(f"blocked ({blocked.code}): {blocked}", markup=False)
        raise typer.Exit(2) from None
    out.print(result.texts[0], markup=False)
    for code in result.codes:
        out.print(f"  {code}", markup=False)
