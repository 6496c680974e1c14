"""`aigc models`: list and register models (templates, checkpoints, upstreams)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from aigc.cli.common import err, families, out, session, tenant_id
from aigc.config import Settings

models_app = typer.Typer(help="Models", no_args_is_help=True)

DEPLOYMENT = typer.Option(
    help="Ray Serve options of this model as JSON, e.g. "
    '\'{"num_replicas": 2, "ray_actor_options": {"num_gpus": 1}}\' (used with AIGC_RAY_ADDRESS)'
)


def deployment_config(text: str | None) -> dict[str, Any]:
    """``{"deployment": {...}}`` from the option's JSON (checked by the registry), or {}."""
    if text is None:
        return {}
    try:
        return {"deployment": json.loads(text)}
    except json.JSONDecodeError as exc:
        err.print(f"[red]error:[/red] --deployment is not JSON: {exc}")
        raise typer.Exit(2) from None


@models_app.command("list")
def models_list() -> None:
    from aigc.infra.schema import ModelRecord

    table = Table("id", "family", "owner", "status")
    with session() as s:
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
    deployment: Annotated[str | None, DEPLOYMENT] = None,
) -> None:
    """Register a template model (id template-…) from a YAML file (its text is stored)."""
    from aigc.models.registry import ModelRegistry

    with session() as s:
        owner = None if shared else tenant_id(s, tenant)
        config = {"yaml": path.read_text(encoding="utf-8")} | deployment_config(deployment)
        record = ModelRegistry(Settings().import_roots).register(
            s, None, name, config, tenant_id=owner
        )
        out.print(f"registered {record.name} for {record.tenant_id or 'every organization'}")


@models_app.command("add")
def models_add(
    path: Annotated[Path, typer.Option(help="A local Hugging Face model folder, or a .gguf file")],
    name: Annotated[
        str | None,
        typer.Option(help="Model id, e.g. hf-qwen2-0.5b (default: hf-FOLDER or gguf-FILE)"),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Owner organization")] = None,
    shared: Annotated[bool, typer.Option(help="Share with every organization")] = False,
    deployment: Annotated[str | None, DEPLOYMENT] = None,
) -> None:
    """Register a model folder (config.json, weights, tokenizer) or a GGUF file (served by
    llama.cpp) under the import roots."""
    from aigc.models.registry import ModelRegistry

    families()
    name = model_id_for(path, name)
    config = {"path": str(path)} | deployment_config(deployment)
    with session() as s:
        owner = None if shared else tenant_id(s, tenant)
        record = ModelRegistry(Settings().import_roots).register(
            s, None, name, config, tenant_id=owner
        )
        out.print(f"registered {record.name} for {record.tenant_id or 'every organization'}")


def model_id_for(path: Path, name: str | None) -> str:
    """The id to register ``path`` under: a .gguf file belongs to the gguf family, a folder to
    hf; without ``--name``, the family and the file's or folder's name (``gguf-tiny-f16``)."""
    from aigc.models.text.gguf import is_gguf

    family = "gguf" if path.is_file() and is_gguf(path) else "hf"
    if name is None:
        stem = path.name.removesuffix(".gguf") if family == "gguf" else path.name
        return f"{family}-{stem}"
    if family == "gguf" and not name.startswith("gguf-"):
        err.print(f"[red]✗[/red] {path.name} is a GGUF file: its id must start with gguf-")
        raise typer.Exit(2)
    return name


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
    vision: Annotated[
        bool, typer.Option(help="The served model reads images (chat image_url parts)")
    ] = False,
) -> None:
    """Register an OpenAI-compatible server (vLLM, Ollama, llama.cpp, another aigc) as a model."""
    from aigc.models.registry import ModelRegistry

    families()
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
    if vision:
        config["vision"] = True
    with session() as s:
        owner = None if shared else tenant_id(s, tenant)
        record = ModelRegistry(Settings().import_roots).register(
            s, None, name, config, tenant_id=owner
        )
        out.print(f"registered {record.name} for {record.tenant_id or 'every organization'}")
