"""The `aigc` command: serve, migrate, admin, keys, models, audit, backup, restore."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aigc.config import Settings
from aigc.gateway.errors import APIError

app = typer.Typer(help="aigc: self-hosted AIGC platform", no_args_is_help=True)
admin_app = typer.Typer(help="Organizations and users", no_args_is_help=True)
keys_app = typer.Typer(help="API keys", no_args_is_help=True)
models_app = typer.Typer(help="Models", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
train_app = typer.Typer(help="Train text models (n-gram, GPT, RNN) as jobs", no_args_is_help=True)
app.add_typer(train_app, name="train")
out = Console()
err = Console(stderr=True)


@contextmanager
def _session() -> Iterator[Session]:
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


def _tenant_id(session: Session, tenant: str | None) -> str:
    from aigc.gateway import accounts
    from aigc.infra.schema import Tenant

    if tenant is None:
        return accounts.default_tenant(session).id
    row = session.scalar(select(Tenant).where(or_(Tenant.id == tenant, Tenant.name == tenant)))
    if row is None:
        err.print(f"[red]error:[/red] no organization '{tenant}'")
        raise typer.Exit(1)
    return row.id


# --- serve and migrate ---------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
) -> None:
    """Migrate the database and serve the platform (API, console, metrics)."""
    import uvicorn

    from aigc.app import create_app
    from aigc.gateway.http_head import head_limited_protocol
    from aigc.infra.logs import configure_logging
    from aigc.infra.private import SERVE_UMASK

    os.umask(SERVE_UMASK)  # everything the server writes is its own (issue 14, defect 12)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_json)
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


@app.command()
def migrate() -> None:
    """Upgrade the database schema in place to the latest version."""
    from aigc.infra import migrate as migrations

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.db_url)
    out.print(f"database at revision {migrations.current_revision(settings.db_url)}")


# --- admin ---------------------------------------------------------------------------------


@admin_app.command("create-tenant")
def create_tenant(
    name: str,
    daily_token_budget: Annotated[int | None, typer.Option(help="Tokens per UTC day")] = None,
) -> None:
    """Create an organization."""
    from aigc.gateway import accounts

    with _session() as s:
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
    with _session() as s:
        first_owner = role == "owner" and not accounts.has_owner(s)
        user = accounts.create_user(
            s,
            None,
            tenant_id=_tenant_id(s, tenant),
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            platform_admin=first_owner and tenant is None,
        )
        if first_owner:
            first_run.finish_setup(s)
        out.print(f"created user {user.username} ({user.id}), role {user.role}")


@admin_app.command("setup-url")
def setup_url() -> None:
    """Issue a new one-time link to create the owner account in the console."""
    from aigc.gateway import accounts, first_run

    settings = Settings()
    with _session() as s:
        if accounts.has_owner(s):
            err.print("An owner account exists already; setup is complete.")
            raise typer.Exit(1)
        token = first_run.new_setup_token(s)
    out.print(f"{settings.base_url}/setup?token={token}")


@admin_app.command("list-tenants")
def list_tenants() -> None:
    from aigc.infra.schema import Tenant

    table = Table("id", "name", "daily budget", "disabled")
    with _session() as s:
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
    with _session() as s:
        key, secret = accounts.create_key(
            s,
            None,
            tenant_id=_tenant_id(s, tenant),
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
    with _session() as s:
        rows = s.scalars(
            select(ApiKey)
            .where(ApiKey.tenant_id == _tenant_id(s, tenant))
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

    with _session() as s:
        accounts.revoke_key(s, None, key_id)
    out.print(f"revoked {key_id}")


# --- models --------------------------------------------------------------------------------


@models_app.command("list")
def models_list() -> None:
    from aigc.infra.schema import ModelRecord

    table = Table("id", "family", "owner", "status")
    with _session() as s:
        for m in s.scalars(select(ModelRecord).order_by(ModelRecord.name)):
            table.add_row(m.name, m.family, m.tenant_id or "shared", m.status)
    out.print(table)


@models_app.command("validate-template")
def models_validate_template(path: Path) -> None:
    """Check a template model's YAML; every problem is listed with its place."""
    from aigc.models.text.template import validate_template_file

    problems = validate_template_file(path)
    if problems:
        for problem in problems:
            err.print(f"[red]✗[/red] {problem}")
        raise typer.Exit(1)
    out.print(f"[green]✓[/green] {path} is a valid template model")


@models_app.command("add-template")
def models_add_template(
    name: str,
    path: Path,
    tenant: Annotated[str | None, typer.Option(help="Owner organization")] = None,
    shared: Annotated[bool, typer.Option(help="Share with every organization")] = False,
) -> None:
    """Register a template model (id template-…) from a YAML file (its text is stored)."""
    from aigc.models.registry import ModelRegistry

    with _session() as s:
        owner = None if shared else _tenant_id(s, tenant)
        config = {"yaml": path.read_text(encoding="utf-8")}
        record = ModelRegistry(Settings().import_roots).register(
            s, None, name, config, tenant_id=owner
        )
        out.print(f"registered {record.name} for {record.tenant_id or 'every organization'}")


@models_app.command("add")
def models_add(
    path: Annotated[Path, typer.Option(help="A local Hugging Face model folder")],
    name: Annotated[str, typer.Option(help="Model id, e.g. hf-qwen2-0.5b")],
    tenant: Annotated[str | None, typer.Option(help="Owner organization")] = None,
    shared: Annotated[bool, typer.Option(help="Share with every organization")] = False,
) -> None:
    """Register a model folder (config.json, weights, tokenizer) under the import roots."""
    from aigc.models.family import load_families
    from aigc.models.registry import ModelRegistry

    load_families()
    with _session() as s:
        owner = None if shared else _tenant_id(s, tenant)
        record = ModelRegistry(Settings().import_roots).register(
            s, None, name, {"path": str(path)}, tenant_id=owner
        )
        out.print(f"registered {record.name} for {record.tenant_id or 'every organization'}")


@models_app.command("add-upstream")
def models_add_upstream(
    name: Annotated[str, typer.Option(help="Model id, e.g. upstream-qwen-72b")],
    base_url: Annotated[
        list[str], typer.Option(help="OpenAI-compatible base URL (repeat to load-balance)")
    ],
    model: Annotated[str, typer.Option(help="The model name the upstream serves")],
    api_key: Annotated[
        str | None,
        typer.Option(envvar="AIGC_UPSTREAM_API_KEY", help="Upstream key (stored encrypted)"),
    ] = None,
    fallback_url: Annotated[str | None, typer.Option(help="Fallback base URL")] = None,
    fallback_model: Annotated[str | None, typer.Option(help="Fallback model name")] = None,
    max_retries: Annotated[int, typer.Option(help="Retries on 429/5xx")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds per upstream call")] = 60.0,
    tenant: Annotated[str | None, typer.Option(help="Owner organization")] = None,
    shared: Annotated[bool, typer.Option(help="Share with every organization")] = False,
) -> None:
    """Register an OpenAI-compatible server (vLLM, Ollama, llama.cpp, another aigc) as a model."""
    from aigc.models.family import load_families
    from aigc.models.registry import ModelRegistry

    load_families()
    config: dict[str, object] = {
        "base_urls": base_url,
        "model": model,
        "max_retries": max_retries,
        "timeout_s": timeout,
    }
    if api_key:
        config["api_key"] = api_key
    if fallback_url and fallback_model:
        config["fallbacks"] = [{"base_url": fallback_url, "model": fallback_model}]
    with _session() as s:
        owner = None if shared else _tenant_id(s, tenant)
        record = ModelRegistry(Settings().import_roots).register(
            s, None, name, config, tenant_id=owner
        )
        out.print(f"registered {record.name} for {record.tenant_id or 'every organization'}")


# --- train ---------------------------------------------------------------------------------

_DataOpt = Annotated[Path, typer.Option("--data", help="File or folder under the import roots")]
_NameOpt = Annotated[str, typer.Option("--name", help="Model id, e.g. gpt-support")]
_ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE, e.g. -p max_iters=500")
]
_TenantOpt = Annotated[str | None, typer.Option(help="Owner organization (default: yours)")]
_SharedOpt = Annotated[bool, typer.Option(help="Share the model with every organization")]
_DetachOpt = Annotated[bool, typer.Option(help="Only queue the job (a running server runs it)")]


@train_app.command("gpt")
def train_gpt(
    data: _DataOpt,
    name: _NameOpt,
    param: _ParamOpt = None,
    tenant: _TenantOpt = None,
    shared: _SharedOpt = False,
    detach: _DetachOpt = False,
) -> None:
    """Train a GPT (decoder-only transformer) from scratch; saves a Hugging Face checkpoint."""
    _train("gpt", data, name, param, tenant, shared, detach)


@train_app.command("rnn")
def train_rnn(
    data: _DataOpt,
    name: _NameOpt,
    param: _ParamOpt = None,
    tenant: _TenantOpt = None,
    shared: _SharedOpt = False,
    detach: _DetachOpt = False,
) -> None:
    """Train an LSTM/GRU language model (-p cell=gru for a GRU)."""
    _train("rnn", data, name, param, tenant, shared, detach)


@train_app.command("ngram")
def train_ngram(
    data: _DataOpt,
    name: _NameOpt,
    param: _ParamOpt = None,
    tenant: _TenantOpt = None,
    shared: _SharedOpt = False,
    detach: _DetachOpt = False,
) -> None:
    """Train an n-gram model (modified Kneser-Ney), e.g. -p order=5."""
    _train("ngram", data, name, param, tenant, shared, detach)


@train_app.command("gpt-pydoc")
def train_gpt_pydoc() -> None:
    """Train the shared default gpt-pydoc here (what the server's first start queues)."""
    from aigc.infra.schema import ModelRecord
    from aigc.models.family import load_families
    from aigc.models.text import gpt

    load_families()
    with _session() as s:
        gpt.bootstrap_default_in(s)
        record = s.scalar(
            select(ModelRecord).where(
                ModelRecord.name == gpt.DEFAULT_NAME, ModelRecord.tenant_id.is_(None)
            )
        )
        assert record is not None
        status, job_id = record.status, (record.config or {}).get("job_id")
    if status == "ready" or not job_id:
        out.print(f"{gpt.DEFAULT_NAME} is {status}")
        return
    _run_job(job_id)


@train_app.command("resume")
def train_resume(job_id: str) -> None:
    """Run a queued or interrupted training job here, from its last checkpoint."""
    _run_job(job_id)


_ImageDataOpt = Annotated[
    str,
    typer.Option(
        "--data", help="digits (built in), mnist:FOLDER, or an image folder (subfolders = classes)"
    ),
]


def _image_trainer(family: str, doc: str, extra: dict[str, Any] | None = None) -> Any:
    """One `aigc train <family>` command for an image family: the options are the same for all."""

    def command(
        data: _ImageDataOpt,
        name: _NameOpt,
        param: _ParamOpt = None,
        tenant: _TenantOpt = None,
        shared: _SharedOpt = False,
        detach: _DetachOpt = False,
    ) -> None:
        _train_image(family, data, name, param, tenant, shared, detach, extra)

    command.__doc__ = doc
    return command


for _command, _family, _doc, _extra in (
    (
        "gan",
        "gan",
        "Train a class-conditional DCGAN on images (e.g. -p steps=2000 -p size=32).",
        None,
    ),
    (
        "vae",
        "vae",
        "Train a (conditional) VAE on images (e.g. -p beta=1.0 -p conditional=false).",
        None,
    ),
    (
        "clip",
        "clip",
        "Train a CLIP-style image/text dual encoder (captions.jsonl, else class names).",
        None,
    ),
    (
        "captioner",
        "mm",
        "Train an image captioner (English and Chinese); the name starts with mm-.",
        {"kind": "captioner"},
    ),
):
    train_app.command(_command)(_image_trainer(_family, _doc, _extra))


@train_app.command("text2image")
def train_text2image(
    data: _ImageDataOpt,
    name: _NameOpt,
    clip: Annotated[str, typer.Option(help="A ready clip- model that reads the prompts")],
    param: _ParamOpt = None,
    tenant: _TenantOpt = None,
    shared: _SharedOpt = False,
    detach: _DetachOpt = False,
) -> None:
    """Train text-to-image (a VAE conditioned on CLIP text embeddings); name starts with mm-."""
    extra = {"kind": "text2image", "clip": clip}
    _train_image("mm", data, name, param, tenant, shared, detach, extra)


def _train_image(
    family: str,
    data: str,
    name: str,
    params: list[str] | None,
    tenant: str | None,
    shared: bool,
    detach: bool,
    extra: dict[str, object] | None = None,
) -> None:
    """Queue an image/multimodal training job, then run it here with a progress bar."""
    from aigc.gateway import accounts
    from aigc.gateway.auth import Principal
    from aigc.infra.paths import check_import_path
    from aigc.models.family import load_families
    from aigc.models.training import start_training

    load_families()
    settings = Settings()
    if data != "digits":  # a server path: only under the import roots
        folder = data.removeprefix("mnist:")
        checked = str(check_import_path(folder, settings.import_roots))
        data = f"mnist:{checked}" if data.startswith("mnist:") else checked
    values = _parse_params(params or []) | {"data": data} | (extra or {})
    kind = "image" if family in ("gan", "vae") else "multimodal"
    with _session() as s:
        owner = _tenant_id(s, tenant) if tenant else accounts.default_tenant(s).id
        operator = Principal(tenant_id=owner, role="owner", platform_admin=True)
        record, job = start_training(s, operator, family, name, values, shared=shared, kind=kind)
        job_id = job.id
        err.print(f"queued job {job_id} training {record.name}")
    if not detach:
        _run_job(job_id)


def _train(
    family: str,
    data: Path,
    name: str,
    params: list[str] | None,
    tenant: str | None,
    shared: bool,
    detach: bool,
) -> None:
    """Queue the job, then run it in this process with a progress bar (unless ``detach``).

    Ctrl-C stops it after a checkpoint; it stays queued and resumes with ``aigc train resume``
    or at the next ``aigc serve`` on the same data directory.
    """
    from aigc.gateway import accounts
    from aigc.gateway.auth import Principal
    from aigc.models.family import load_families
    from aigc.models.text.submit import submit_training

    load_families()
    settings = Settings()
    values = _parse_params(params or [])
    with _session() as s:
        owner = _tenant_id(s, tenant) if tenant else accounts.default_tenant(s).id
        operator = Principal(tenant_id=owner, role="owner", platform_admin=True)
        record, job = submit_training(
            s,
            operator,
            family=family,
            name=name,
            params=values,
            file_ids=None,
            data_path=str(data),
            data_dir=settings.data_dir,
            import_roots=settings.import_roots,
            shared=shared,
            via_cli=True,
        )
        job_id = job.id
        err.print(f"queued job {job_id} training {record.name}")
    if not detach:
        _run_job(job_id)


def _parse_params(items: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            err.print(f"[red]error:[/red] --param takes KEY=VALUE, not '{item}'")
            raise typer.Exit(2)
        value: object = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        values[key.strip()] = value
    return values


def _run_job(job_id: str) -> None:
    """Run the job queue in this process and show the job's progress until it ends."""
    import socket
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from aigc.infra import migrate as migrations
    from aigc.infra.db import Database
    from aigc.infra.jobs import FINISHED, JobRunner
    from aigc.infra.schema import Job
    from aigc.models.family import load_families

    load_families()
    settings = Settings()
    migrations.upgrade(settings.db_url)
    db = Database(settings.db_url)
    runner = JobRunner(
        db,
        settings.data_dir,
        worker_id=f"cli:{socket.gethostname()}:{os.getpid()}",
        stale_after_s=settings.job_stale_after_s,
    )
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


# --- audit, backup, restore ----------------------------------------------------------------


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


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="Archive file or folder")] = Path("."),
) -> None:
    """Back up the embedded database and data directory (safe while serving)."""
    from aigc.infra.backup import backup as run_backup

    path = run_backup(Settings(), dest)
    out.print(f"backup written to {path}")


@app.command()
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


# --- knowledge bases -----------------------------------------------------------------------

kb_app = typer.Typer(help="Knowledge bases: create, ingest files, search", no_args_is_help=True)
app.add_typer(kb_app, name="kb")


def _operator(tenant_id: str):  # type: ignore[no-untyped-def]
    """The CLI acts as the organization's owner (it runs on the server, as its operator)."""
    from aigc.gateway.auth import Principal

    return Principal(tenant_id=tenant_id, role="owner", key_id="cli")


@kb_app.command("create")
def kb_create(
    name: str,
    tenant: _TenantOpt = None,
    keyword_only: Annotated[bool, typer.Option(help="BM25 only: no embeddings")] = False,
) -> None:
    """Create a knowledge base (readable by every role, writable by members and above)."""
    from aigc.knowledge import bases

    with _session() as s:
        kb = bases.create_kb(s, _operator(_tenant_id(s, tenant)), name, dense=not keyword_only)
        out.print(f"created {kb.id} ({kb.name})")


@kb_app.command("ingest")
def kb_ingest(
    kb_id: str,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders under the import roots")],
    tenant: _TenantOpt = None,
) -> None:
    """Add files (folders recursively) and index the new or changed ones, with progress.

    In a folder, what is really elsewhere (a link leading out of it) is skipped and said so.
    """
    from rich.markup import escape
    from rich.progress import Progress

    from aigc.infra.db import Database
    from aigc.infra.paths import check_import_path, files_under, open_inside
    from aigc.knowledge.ingest import add_document, ingest_documents

    settings = Settings()
    files: list[tuple[Path, Path]] = []  # (real file, the folder it must stay in)
    changed, unchanged, skipped = [], 0, 0
    with _session() as s:  # API errors (a path outside the import roots…) become messages
        for path in paths:
            root = check_import_path(path, settings.import_roots)
            if not root.is_dir():
                files.append((root, root.parent))
                continue
            for found, reason in files_under(root):
                if reason is None:
                    files.append((found, root))
                else:
                    skipped += 1
                    err.print(f"[yellow]skipped[/yellow] {escape(str(path / found))}: {reason}")
        who = _operator(_tenant_id(s, tenant))
        for file, folder in files:
            try:
                with open_inside(file, folder) as fh:
                    added = add_document(
                        s, settings, who, kb_id, file.name, iter(lambda: fh.read(1 << 20), b"")
                    )
            except (APIError, OSError) as exc:
                reason = exc.message if isinstance(exc, APIError) else exc.strerror
                err.print(f"[yellow]skipped[/yellow] {escape(str(file))}: {reason}")
                skipped += 1
                continue
            if added.changed:
                changed.append(added.document.id)
            else:
                unchanged += 1
    db = Database(settings.db_url)
    try:
        with Progress(console=err) as bar:
            task = bar.add_task("indexing", total=1.0)
            result = ingest_documents(
                db,
                settings,
                who.tenant_id,
                kb_id,
                changed,
                progress=lambda f, m: bar.update(task, completed=f, description=m),
            )
    finally:
        db.dispose()
    out.print(
        f"{result['indexed']} indexed, {result['failed']} failed, {unchanged} unchanged, "
        f"{skipped} skipped; {result['chunks']} chunks in the index"
    )


@kb_app.command("search")
def kb_search(
    kb_id: str,
    query: str,
    top_k: Annotated[int, typer.Option(help="How many chunks")] = 5,
    tenant: _TenantOpt = None,
) -> None:
    """Search a knowledge base (hybrid) and print the best chunks with their scores."""
    from aigc.knowledge.retrieve import search

    with _session() as s:
        hits = search(s, Settings(), _operator(_tenant_id(s, tenant)), [kb_id], query, top_k)
        table = Table("score", "document", "page", "text")
        for h in hits:
            table.add_row(f"{h.score:.3f}", h.filename, str(h.page or ""), h.text[:120])
        out.print(table)


policies_app = typer.Typer(help="Guard policies per organization (YAML)", no_args_is_help=True)
app.add_typer(policies_app, name="policies")


@policies_app.command("list")
def policies_list(tenant: Annotated[str | None, typer.Option()] = None) -> None:
    """The organization's policies (the built-in default applies when there are none)."""
    from aigc.guard import store
    from aigc.guard.policy import parse_policy

    table = Table("name", "enabled", "rules", "updated")
    with _session() as s:
        for row in store.list_policies(s, _tenant_id(s, tenant)):
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

    with _session() as s:
        try:
            out.print(store.get_policy(s, _tenant_id(s, tenant), name).yaml, markup=False)
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
    with _session() as s:
        try:
            row = store.put_policy(s, _tenant_id(s, tenant), text, enabled=not disabled)
        except PolicyError as exc:
            for problem in exc.problems:
                err.print(f"[red]problem:[/red] {problem}")
            raise typer.Exit(1) from None
        out.print(f"saved policy '{row.name}' ({'disabled' if disabled else 'enabled'})")


@policies_app.command("delete")
def policies_delete(name: str, tenant: Annotated[str | None, typer.Option()] = None) -> None:
    from aigc.guard import store

    with _session() as s:
        try:
            store.delete_policy(s, _tenant_id(s, tenant), name)
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

    with _session() as s:
        rows = [r for r in store.list_policies(s, _tenant_id(s, tenant)) if r.enabled]
        policies = [parse_policy(r.yaml) for r in rows] or [DEFAULT_POLICY]
    try:
        result = checks.check_input(rules_for(policies, "input", model, None), [text])
    except checks.Blocked as blocked:
        out.print(f"blocked ({blocked.code}): {blocked}", markup=False)
        raise typer.Exit(2) from None
    out.print(result.texts[0], markup=False)
    for code in result.codes:
        out.print(f"  {code}", markup=False)


if __name__ == "__main__":
    app()
