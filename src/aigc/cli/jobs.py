"""Running a queued job in the CLI process with a Rich progress bar (`aigc train`)."""

from __future__ import annotations

import os

import typer

from aigc.cli.common import err, families, out
from aigc.config import Settings


def run_job(job_id: str) -> None:
    """Run the job queue in this process and show the job's progress until it ends."""
    import socket
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from aigc.infra import migrate as migrations
    from aigc.infra.db import Database
    from aigc.infra.jobs import FINISHED
    from aigc.infra.schema import Job
    from aigc.models.job_runner import job_runner

    families()
    settings = Settings()
    migrations.upgrade(settings.db_url)
    db = Database(settings.db_url)
    runner = job_runner(db, settings, f"cli:{socket.gethostname()}:{os.getpid()}")
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    try:
        with db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                err.print(f"[red]error:[/red] no job '{job_id}'")
                raise typer.Exit(1)
        runner.start()
        with Progress(*columns, console=err) as bar:
            task = bar.add_task(job_id, total=1.0, message="")
            while True:
                with db.session() as s:
                    job = s.get(Job, job_id)
                    assert job is not None
                    status, fraction, message = job.status, job.progress, job.message
                    error, result = job.error, job.result
                bar.update(task, completed=fraction, message=message)
                if status in FINISHED:
                    break
                time.sleep(0.5)
    except KeyboardInterrupt:
        runner.stop()
        err.print(f"stopped; the job resumes with `aigc train resume {job_id}`")
        raise typer.Exit(130) from None
    finally:
        runner.stop()
        db.dispose()
    if status != "succeeded":
        err.print(f"[red]job {status}:[/red] {error or ''}")
        raise typer.Exit(1)
    shown = ("val_loss", "val_perplexity")
    summary = ", ".join(f"{k} {v}" for k, v in (result or {}).items() if k in shown)
    out.print(f"[green]✓[/green] trained ({summary})")
