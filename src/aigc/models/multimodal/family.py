"""The clip- and mm- families: loaders, training jobs and the default digit models.

``mm-`` holds two kinds of multimodal model, told apart by ``kind`` in their params and files:
a captioner (image → text) and text-to-image (text → image, reading prompts with a CLIP model
named by ``clip`` in the params, which must be ready when its job runs).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from aigc.config import Settings
from aigc.errors import refused_value
from aigc.infra.db import Database
from aigc.infra.jobs import JobBlocked, JobContext
from aigc.infra.schema import Job, ModelRecord
from aigc.models.family import (
    CHAT,
    IMAGE_CAPTIONING,
    IMAGE_EMBEDDINGS,
    IMAGE_GENERATION,
    PATH_CONFIG,
    STREAMING,
    VISION,
    ZERO_SHOT,
    Family,
    register,
)
from aigc.models.image.family import (
    bootstrap_defaults_of,
    bootstrap_share,
    training_data,
    validate_model_dir,
)
from aigc.models.multimodal import captioner, clip, text2image
from aigc.models.registry import local_config

DEFAULT_MODELS = {
    "clip-digits": ("clip", {"data": "digits", "subset": "even"}),
    "mm-digits-captioner": ("mm", {"data": "digits", "subset": "even", "kind": "captioner"}),
    "mm-digits-text2image": (
        "mm",
        {"data": "digits", "subset": "even", "kind": "text2image", "clip": "clip-digits"},
    ),
}
MM_KINDS = ("captioner", "text2image")


def _known(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)} - {"size", "channels", "vocab_size"}
    return {k: v for k, v in params.items() if k in names}


def train_clip(ctx: JobContext, out_dir: Path) -> dict[str, Any]:
    data = training_data(ctx.params)
    cfg = clip.CLIPConfig(
        **_known(clip.CLIPConfig, ctx.params), size=data.size, channels=data.channels
    )
    model, tok = clip.train(cfg, data, ctx.progress)
    clip.save(model, tok, data.classes, out_dir)
    return {"path": str(out_dir), "size": cfg.size, "classes": data.classes}


def _clip_dir(ctx: JobContext, name: str) -> Path:
    """The folder of a ready CLIP model the job's tenant may use (its own, else shared).

    While that model is still training, the job waits in the queue for its training job
    (``JobBlocked``): jobs run side by side, so the queue's order alone does not ensure it.
    """
    with ctx.db.session() as s:
        rows = s.scalars(
            select(ModelRecord).where(
                ModelRecord.name == name,
                or_(ModelRecord.tenant_id == ctx.tenant_id, ModelRecord.tenant_id.is_(None)),
            )
        ).all()
    record = next((r for r in rows if r.tenant_id is not None), rows[0] if rows else None)
    if record is not None and record.status == "training":
        job_id = (record.config or {}).get("job_id")
        with ctx.db.session() as s:
            job = s.get(Job, job_id) if isinstance(job_id, str) else None
            if job is not None and job.status in ("queued", "running"):
                raise JobBlocked(job.id, f"waiting for the CLIP model '{name}' to finish training")
    if record is None or record.status != "ready":
        raise refused_value(
            "clip_not_ready", "The CLIP model '{model}' is not ready", param="clip", model=name
        )
    return Path(local_config(record, ctx.store, ctx.data_dir / "cache")["path"])


def train_mm(ctx: JobContext, out_dir: Path) -> dict[str, Any]:
    kind = ctx.params.get("kind", "captioner")
    data = training_data(ctx.params)
    if kind == "captioner":
        cfg = captioner.CaptionerConfig(
            **_known(captioner.CaptionerConfig, ctx.params),
            size=data.size,
            channels=data.channels,
        )
        model, tok = captioner.train(cfg, data, ctx.progress)
        captioner.save(model, tok, data.classes, out_dir)
    elif kind == "text2image":
        clip_dir = _clip_dir(ctx, str(ctx.params.get("clip", "")))
        reader = clip.CLIPModel(clip_dir)
        t2i = text2image.Text2ImageConfig(**_known(text2image.Text2ImageConfig, ctx.params))
        net = text2image.train(t2i, data, reader, ctx.progress)
        text2image.save(net, t2i, clip_dir, out_dir)
    else:
        raise refused_value(
            "literal_error",
            "mm models are one of {expected}",
            param="kind",
            expected=", ".join(MM_KINDS),
        )
    return {"path": str(out_dir), "size": data.size, "kind": kind, "classes": data.classes}


def load_mm(config: dict[str, Any]) -> Any:
    kind = json.loads((Path(config["path"]) / "config.json").read_text()).get("kind")
    if kind == "text2image":
        return text2image.Text2ImageModel(config["path"])
    return captioner.CaptionerModel(config["path"])


def prepare_mm(config: dict[str, Any], principal: Any, session: Any) -> dict[str, Any]:
    """A folder registered by hand stores its kind, as a trained model's job result does, so
    its listing shows what it does (captions, chat about images, or text-to-image)."""
    kind = json.loads((Path(config["path"]) / "config.json").read_text()).get("kind")
    if kind not in MM_KINDS:
        raise refused_value(
            "literal_error",
            "mm models are one of {expected}",
            param="config",
            expected=", ".join(MM_KINDS),
        )
    return config | {"kind": kind}


def mm_capabilities(config: dict[str, Any]) -> frozenset[str]:
    """A text-to-image model generates images; a captioner writes captions, on its own route
    and in chat (its job's result says which; a model still training may become either)."""
    kind = config.get("kind")
    if kind == "text2image":
        return frozenset({IMAGE_GENERATION})
    if kind == "captioner":  # also in chat: it answers about the images of a message
        return frozenset({IMAGE_CAPTIONING, CHAT, STREAMING, VISION})
    return frozenset()


CLIP = register(
    Family(
        name="clip",
        kind="multimodal",
        loader=lambda config: clip.CLIPModel(config["path"]),
        validate=validate_model_dir,
        config_schema=PATH_CONFIG,
        capabilities=frozenset({IMAGE_EMBEDDINGS, ZERO_SHOT}),
        summary="Train a CLIP-style image/text dual encoder (captions.jsonl, else class names).",
        trainer=train_clip,
        trains_on="images",
        bootstrap=bootstrap_share(DEFAULT_MODELS, "clip"),
    )
)
MM = register(
    Family(
        name="mm",
        kind="multimodal",
        loader=load_mm,
        validate=validate_model_dir,
        config_schema=PATH_CONFIG,
        prepare=prepare_mm,
        capabilities=frozenset({IMAGE_CAPTIONING, IMAGE_GENERATION, CHAT, STREAMING, VISION}),
        capabilities_of=mm_capabilities,
        summary="Train an mm- model: -p kind=captioner or kind=text2image -p clip=NAME.",
        trainer=train_mm,
        trains_on="images",
        bootstrap=bootstrap_share(DEFAULT_MODELS, "mm"),
    )
)


def bootstrap_default(db: Database, settings: Settings) -> None:
    """Every default model of this module at once (what the families' bootstraps do in turn)."""
    bootstrap_defaults_of(db, DEFAULT_MODELS)
