"""`aigc nginx-config`: the nginx site for several instances (docs/deploy.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from aigc.cli.common import err
from aigc.config import Settings


def register(app: typer.Typer) -> None:
    app.command("nginx-config")(nginx_config)


def nginx_config(
    instance: Annotated[
        list[str], typer.Option("--instance", help="host:port of an `aigc serve` (repeat)")
    ],
    listen: Annotated[str, typer.Option(help="nginx's listen address")] = "80",
    server_name: Annotated[str, typer.Option(help="nginx's server_name")] = "_",
) -> None:
    """Print the nginx site that balances the instances (API round the least busy, console
    pages sticky, streaming unbuffered, websockets upgraded); the upload limit is this
    configuration's AIGC_MAX_UPLOAD_BYTES."""
    from aigc.infra.nginx import site_config

    try:
        text = site_config(instance, listen, server_name, Settings().max_upload_bytes)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    typer.echo(text, nl=False)
