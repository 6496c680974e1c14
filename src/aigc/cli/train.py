"""`aigc train`: one command per trainable model family, generated from the family registry.

``aigc train <family>`` exists for every registered family with a trainer (built-in or named by
``AIGC_FAMILY_MODULES``); its options are the family's parameters model (``--max-iters``,
``--tokenizer``...) next to the generic ``-p KEY=VALUE``. The families are loaded only when
``train`` is used, so other commands start without importing them. Hand-written commands stay
for what is not a family: ``gpt-pydoc``, ``resume``, and the two kinds of ``mm`` model.
"""

import inspect
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from sqlalchemy import select
from typer.core import TyperGroup

from aigc.cli.common import TenantOpt, err, families, out, platform_operator, session
from aigc.cli.jobs import run_job
from aigc.config import Settings

_NameOpt = Annotated[str, typer.Option("--name", help="Model id, e.g. gpt-support")]
_ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE, e.g. -p max_iters=500")
]
_SharedOpt = Annotated[bool, typer.Option(help="Share the model with every organization")]
_DetachOpt = Annotated[bool, typer.Option(help="Only queue the job (a running server runs it)")]
_ImageDataOpt = Annotated[
    str,
    typer.Option(
        "--data", help="digits (built in), mnist:FOLDER, or an image folder (subfolders = classes)"
    ),
]
_DETACH_HELP = "Only queue the job (a running server runs it)"
_DATA_HELP = {
    "text": "File or folder under the import roots",
    "images": "digits (built in), mnist:FOLDER, or an image folder (subfolders = classes)",
}


class FamilyCommands(TyperGroup):
    """The ``train`` group: its written commands plus one per trainable family."""

    def list_commands(self, ctx: Any) -> list[str]:
        written = super().list_commands(ctx)
        generated = [f.name for f in families() if f.trainer is not None]
        return written + sorted(set(generated) - set(written))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        family = next((f for f in families() if f.name == cmd_name and f.trainer), None)
        return family_command(family) if family is not None else None


train_app = typer.Typer(
    cls=FamilyCommands, help="Train models as jobs, one command per family", no_args_is_help=True
)


# --- generated per family ---------------------------------------------------------------------


def family_command(family: Any) -> Any:
    """``aigc train <family>``: --data, --name, the family's parameters as options, -p, owner.

    Built as a Typer command whose signature is made from the parameters model, so its options
    are checked and documented like the written ones."""
    fields = _fields(family.params)

    def command(**values: Any) -> None:
        extra = parse_params(values.pop("param") or [])
        given = {name: values.pop(name) for name, _ in fields}
        params = extra | {k: v for k, v in given.items() if v is not None}
        common = (values["name"], params, values["tenant"], values["shared"], values["detach"])
        if family.trains_on == "text":
            train_text(family.name, Path(values["data"]), *common)
        else:
            train_images(family.name, str(values["data"]), *common)

    data_help = _DATA_HELP[family.trains_on]
    name_help = f"Model id, e.g. {family.name}-support"
    head = [
        _keyword("data", Annotated[str, typer.Option("--data", help=data_help)]),
        _keyword("name", Annotated[str, typer.Option("--name", help=name_help)]),
    ]
    options = [_keyword(name, _param_option(name, info), None) for name, info in fields]
    tail = [
        _keyword("param", _ParamOpt, None),
        _keyword("tenant", TenantOpt, None),
        _keyword("shared", _SharedOpt, False),
        _keyword("detach", _DetachOpt, False),
    ]
    signature = inspect.Signature([*head, *options, *tail])
    # typer reads the options from ``__signature__``, which functions do not declare
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    command.__doc__ = family.summary or f"Train a {family.name} model."
    single = typer.Typer(add_completion=False)
    single.command(family.name)(command)
    return typer.main.get_command(single)


def _keyword(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> Any:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _fields(params: type[BaseModel] | None) -> list[tuple[str, Any]]:
    return list(params.model_fields.items()) if params is not None else []


def _param_option(name: str, info: Any) -> Any:
    """An option for one field of a parameters model: its type, choices, bounds and default."""
    from aigc.models.family import field_rule

    rule = field_rule(info)
    flag = "--" + name.replace("_", "-")
    shown = "" if info.default is None else f" (default {info.default})"
    bounds = f" [{rule.low}–{rule.high}]" if rule.low is not None else ""
    help_text = f"{info.description or name}{bounds}{shown}"
    kinds: dict[str, Any] = {"int": int, "float": float, "bool": bool}
    if rule.kind == "bool":
        return Annotated[bool | None, typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text)]
    if rule.kind == "choice":
        # Literal[...] with the choices known only at run time (a static checker reads the
        # subscript form as a literal type and refuses a variable in it)
        choice: Any = Literal.__getitem__(rule.choices)
        return Annotated[choice | None, typer.Option(flag, help=help_text)]
    return Annotated[kinds.get(rule.kind, str) | None, typer.Option(flag, help=help_text)]


# --- written commands --------------------------------------------------------------------------


@train_app.command("gpt-pydoc")
def train_gpt_pydoc() -> None:
    """Train the shared default gpt-pydoc here (what the server's first start queues)."""
    from aigc.infra.schema import ModelRecord
    from aigc.models.text import gpt

    families()
    with session() as s:
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
    run_job(job_id)


@train_app.command("resume")
def train_resume(job_id: str) -> None:
    """Run a queued or interrupted training job here, from its last checkpoint."""
    run_job(job_id)


@train_app.command("captioner")
def train_captioner(
    data: _ImageDataOpt,
    name: _NameOpt,
    param: _ParamOpt = None,
    tenant: TenantOpt = None,
    shared: _SharedOpt = False,
    detach: _DetachOpt = False,
) -> None:
    """Train an image captioner (English and Chinese); the name starts with mm-."""
    params = parse_params(param or []) | {"kind": "captioner"}
    train_images("mm", data, name, params, tenant, shared, detach)


@train_app.command("text2image")
def train_text2image(
    data: _ImageDataOpt,
    name: _NameOpt,
    clip: Annotated[str, typer.Option(help="A ready clip- model that reads the prompts")],
    param: _ParamOpt = None,
    tenant: TenantOpt = None,
    shared: _SharedOpt = False,
    detach: _DetachOpt = False,
) -> None:
    """Train text-to-image (a VAE conditioned on CLIP text embeddings); name starts with mm-."""
    params = parse_params(param or []) | {"kind": "text2image", "clip": clip}
    train_images("mm", data, name, params, tenant, shared, detach)


# --- submitting ---------------------------------------------------------------------------------


def train_text(
    family: str,
    data: Path,
    name: str,
    params: dict[str, object],
    tenant: str | None,
    shared: bool,
    detach: bool,
) -> None:
    """Queue the job, then run it in this process with a progress bar (unless ``detach``).

    Ctrl-C stops it after a checkpoint; it stays queued and resumes with ``aigc train resume``
    or at the next ``aigc serve`` on the same data directory.
    """
    from aigc.models.text.submit import submit_training

    families()
    settings = Settings()
    with session() as s:
        record, job = submit_training(
            s,
            platform_operator(tenant, s),
            family=family,
            name=name,
            params=params,
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
        run_job(job_id)


def train_images(
    family: str,
    data: str,
    name: str,
    params: dict[str, object],
    tenant: str | None,
    shared: bool,
    detach: bool,
) -> None:
    """Queue an image/multimodal training job, then run it here with a progress bar."""
    from aigc.infra.paths import check_import_path
    from aigc.models.training import start_training

    families()
    settings = Settings()
    if data != "digits":  # a server path: only under the import roots
        folder = data.removeprefix("mnist:")
        checked = str(check_import_path(folder, settings.import_roots))
        data = f"mnist:{checked}" if data.startswith("mnist:") else checked
    values = params | {"data": data}
    with session() as s:
        record, job = start_training(
            s, platform_operator(tenant, s), family, name, values, shared=shared
        )
        job_id = job.id
        err.print(f"queued job {job_id} training {record.name}")
    if not detach:
        run_job(job_id)


def parse_params(items: list[str] | tuple[str, ...]) -> dict[str, object]:
    """``-p KEY=VALUE`` pairs, numbers and true/false typed."""
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
