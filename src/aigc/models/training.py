"""Training any model family as a job, with the model's record telling callers how it goes.

``start_training`` registers the model with status "training" (so the API answers 503 with
Retry-After and lists it with its status) and submits the family's job (kind
``train-<family>``). A family's handler is wrapped by ``training_handler``: when it returns, the
record becomes "ready" with the returned config; when it fails or is cancelled, "failed" with
the reason. The model belongs to the tenant that trained it (a model trained on A's text would
repeat A's text), unless the platform trains a shared default.

Training happens in a local folder (``data_dir/models/<record id>``); the finished folder is
published to the blob store under ``models/<record id>/`` and the record's config keeps
``storage: {"prefix", "version"}`` (the version: a hash of the files). Any instance loading the
record materialises that version (``ModelRegistry.load``), so a model trained on one instance
is served by all, and a new version in the database replaces what an instance had cached.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal, require_model_allowed, require_platform_admin, require_role
from aigc.errors import Conflict, refused, refused_value
from aigc.infra import jobs
from aigc.infra.jobs import JobBlocked, JobCancelled, JobContext
from aigc.infra.schema import Job, ModelRecord, new_id
from aigc.infra.storage import BlobStore, folders
from aigc.models.registry import family_of

TrainFn = Callable[[JobContext, Path], dict[str, Any]]


def model_dir(data_dir: Path, record_id: str) -> Path:
    """Where a trained model's files are written (data_dir/models/<record id>)."""
    return Path(data_dir) / "models" / record_id


def model_prefix(record_id: str) -> str:
    """The trained model's folder in the blob store."""
    return f"models/{record_id}/"


def publish_model(store: BlobStore | None, out_dir: Path, record_id: str) -> dict[str, Any]:
    """Put a trained model's folder in the store; what its config records about it (nothing
    without a store: a bare job runner in tests keeps the model where it was written)."""
    if store is None:
        return {}
    prefix = model_prefix(record_id)
    return {"storage": {"prefix": prefix, "version": folders.publish(store, out_dir, prefix)}}


def fetch_inputs(ctx: JobContext) -> None:
    """Uploaded training files named by key (``params["file_keys"]``) made local to this
    instance and added to ``params["paths"]``: read in place from a directory store, else
    downloaded into the job's own folder."""
    keys = [k for k in ctx.params.pop("file_keys", None) or [] if isinstance(k, str)]
    if not keys:
        return
    if ctx.store is None:
        raise RuntimeError("this job reads uploaded files, and the runner has no blob store")
    paths = list(ctx.params.get("paths") or [])
    for key in keys:
        local = ctx.store.local_path(key)
        if local is None:
            local = ctx.checkpoint_dir / "inputs" / key.replace("/", "_")
            if not local.is_file():
                ctx.store.download(key, local)
        paths.append(str(local))
    ctx.params["paths"] = paths


def start_training(
    session: Session,
    principal: Principal,
    family: str,
    name: str,
    params: dict[str, Any],
    *,
    shared: bool = False,
    kind: str | None = None,
) -> tuple[ModelRecord, Job]:
    """Register ``name`` as "training" and queue its job; the job fills in the rest.

    ``kind`` (text, image, multimodal) defaults to the family's.
    """
    require_role(principal, "member")
    require_model_allowed(principal, name, param="name")  # a limited key makes only its models
    if family_of(name) != family:
        raise refused_value(
            "model_id_family",
            "A {family} model's id must start with '{family}-'",
            param="name",
            family=family,
        )
    if shared:
        require_platform_admin(principal)
    tenant_id = None if shared else principal.tenant_id
    clash = session.scalar(
        select(ModelRecord).where(ModelRecord.name == name, ModelRecord.tenant_id == tenant_id)
    )
    if clash is not None:
        raise refused(
            Conflict,
            "model_name_taken_now",
            "A model named '{name}' already exists ({status}); pick another name or delete it "
            "first",
            param="name",
            name=name,
            status=clash.status,
        )
    record = ModelRecord(
        id=new_id("mdl_"),
        tenant_id=tenant_id,
        name=name,
        family=family,
        kind=kind or _family_kind(family),
        status="training",
        status_detail="queued",
        config={},
    )
    session.add(record)
    session.flush()
    job = jobs.submit(
        session, principal, f"train-{family}", params | {"model_record_id": record.id}
    )
    record.config = {"job_id": job.id}
    session.flush()
    return record, job


def _family_kind(name: str) -> str:
    from aigc.models.family import get_family

    family = get_family(name)
    return family.kind if family is not None else "text"


def training_handler(train: TrainFn) -> jobs.Handler:
    """Wrap ``train(ctx, out_dir) -> config`` so the model record follows the job's fate."""

    def handle(ctx: JobContext) -> dict[str, Any]:
        record_id = ctx.params["model_record_id"]
        out_dir = model_dir(ctx.data_dir, record_id)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            fetch_inputs(ctx)
            config = train(ctx, out_dir)
            config = config | publish_model(ctx.store, out_dir, record_id)
        except JobBlocked:
            raise  # back to the queue until the job it needs has ended; the record waits
        except JobCancelled:
            if ctx.should_stop and not _cancel_requested(ctx):
                raise  # shutting down: the job is re-queued and resumes, the record waits
            _set_status(ctx, record_id, "failed", "training was cancelled")
            raise
        except Exception as exc:
            detail = jobs.scrub(f"{type(exc).__name__}: {exc}", ctx.data_dir)
            _set_status(ctx, record_id, "failed", detail[:500])
            raise
        name = _set_status(ctx, record_id, "ready", "", config | {"job_id": ctx.job_id})
        return job_result(config, name)

    return handle


def job_result(config: dict[str, Any], name: str | None) -> dict[str, Any]:
    """What the job shows its caller: the model's id and the training's numbers. The config's
    file locations stay on the model record, for the loaders; a client has no use for them."""
    hidden = ("path", "job_id", "storage")
    return {"model": name} | {k: v for k, v in config.items() if k not in hidden}


def _cancel_requested(ctx: JobContext) -> bool:
    with ctx.db.session() as s:
        return bool(s.scalar(select(Job.cancel_requested).where(Job.id == ctx.job_id)))


def _set_status(
    ctx: JobContext,
    record_id: str,
    status: str,
    detail: str,
    config: dict[str, Any] | None = None,
) -> str | None:
    """Update the model record; its name (None if it was deleted meanwhile)."""
    with ctx.db.session() as s:
        record = s.get(ModelRecord, record_id)
        if record is None:
            return None  # deleted while training: nothing to update
        record.status = status
        record.status_detail = detail
        if config is not None:
            record.config = config
        return record.name
