"""`aigc serve`, `migrate`, `backup`, `restore` and `audit verify`: running the platform."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from aigc.cli.common import err, out
from aigc.config import Settings

audit_app = typer.Typer(help="The audit trail", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(migrate)
    app.command()(backup)
    app.command()(restore)
    app.add_typer(audit_app, name="audit")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
) -> None:
    """Migrate the database and serve the platform (API, console, metrics)."""
    from aigc.infra import heap

    heap.serve_on_system_allocator()  # returns only once the allocator is chosen

    import uvicorn

    from aigc.app import create_app
    from aigc.gateway.http_head import head_limited_protocol
    from aigc.infra.logs import configure_logging
    from aigc.infra.open_files import raise_open_files_limit
    from aigc.infra.private import SERVE_UMASK

    os.umask(SERVE_UMASK)  # everything the server writes is its own (issue 14, defect 12)
    given: dict[str, Any] = {"host": host, "port": port}
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    configure_logging(settings.log_level, settings.log_json)
    raise_open_files_limit()  # a socket per client: 1,024 (a common default) is not enough
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # httptools with a cap on the request head: 431 instead of buffering any header size
        http=head_limited_protocol(settings.max_header_bytes, settings.max_header_count),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=60,
    )


def migrate() -> None:
    """Upgrade the database schema in place to the latest version."""
    from aigc.infra import migrate as migrations

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.db_url)
    out.print(f"database at revision {migrations.current_revision(settings.db_url)}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain: an edited, inserted, deleted or truncated record fails it."""
    from aigc.infra.audit import AuditLog
    from aigc.infra.db import Database

    settings = Settings()
    db = Database(settings.db_url)
    try:
        result = AuditLog(db, settings.server_secret()).verify()
    finally:
        db.dispose()
    if result.ok:
        out.print(f"[green]✓[/green] audit chain intact: {result.count} records")
        return
    for problem in result.problems:
        err.print(f"[red]✗[/red] {problem}")
    raise typer.Exit(1)


def backup(
    dest: Annotated[Path, typer.Argument(help="Archive file or folder")] = Path("."),
) -> None:
    """Back up the embedded database and data directory (safe while serving)."""
    from aigc.infra.backup import backup as run_backup

    path = run_backup(Settings(), dest)
    out.print(f"backup written to {path}")


def restore(
    archive: Path,
    force: Annotated[bool, typer.Option(help="Replace a non-empty data directory")] = False,
) -> None:
    """Restore a backup into the data directory (the old one is kept aside with --force)."""
    from aigc.infra.backup import restore as run_restore

    try:
        run_restore(Settings(), archive, force=force)
    except (ValueError, FileExistsError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    out.print(f"restored {archive} into {Settings().data_dir}")
