"""The gan- and vae- families: loaders for the registry, training jobs, default digit models.

Training parameters (job params, CLI options) name the data (``digits``, ``mnist:/folder`` or
a folder of images), optional ``size`` and any field of the family's config dataclass. A job
writes sample grids to ``<model dir>/samples/`` as it trains and returns the model's config.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aigc.config import Settings
from aigc.errors import InvalidRequest, refused_value
from aigc.infra.db import Database
from aigc.infra.jobs import JobContext
from aigc.infra.schema import ModelRecord
from aigc.infra.tenants import platform_operator
from aigc.models.family import (
    IMAGE_ENCODING,
    IMAGE_GENERATION,
    IMAGE_INTERPOLATION,
    PATH_CONFIG,
    Family,
    register,
)
from aigc.models.image import gan, vae
from aigc.models.image.data import ImageSet, load_dataset
from aigc.models.image.sampling import save_grid
from aigc.models.training import start_training

log = logging.getLogger("aigc.models.image")

DEFAULT_MODELS = {
    "gan-digits": ("gan", {"data": "digits", "subset": "even"}),
    "vae-digits": ("vae", {"data": "digits", "subset": "even"}),
}


def config_from(cls: type, params: dict[str, Any], data: ImageSet) -> Any:
    """A family config from job params, with the data's size, channels and classes."""
    names = {f.name for f in dataclasses.fields(cls)}
    known = {k: v for k, v in params.items() if k in names}
    return cls(
        **known | {"size": data.size, "channels": data.channels, "num_classes": len(data.classes)}
    )


def training_data(params: dict[str, Any]) -> ImageSet:
    """The data a job trains on; ``subset`` "even" keeps the odd half for evaluation."""
    data = load_dataset(str(params.get("data", "digits")), params.get("size"))
    return data.even() if params.get("subset") == "even" else data


def _skipped(data: ImageSet) -> dict[str, Any]:
    """For the job's result: files the folder walk skipped (links leading out of it)."""
    return {"skipped_files": data.skipped} if data.skipped else {}


def _grid_writer(out_dir: Path):
    samples = out_dir / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    return lambda step, images: save_grid(images, str(samples / f"step-{step:06d}.png"))


def train_gan(ctx: JobContext, out_dir: Path) -> dict[str, Any]:
    data = training_data(ctx.params)
    cfg = config_from(gan.GANConfig, ctx.params, data)
    G = gan.train(cfg, data, ctx.progress, max(cfg.steps // 10, 1), _grid_writer(out_dir))
    gan.save(G, cfg, data.classes, out_dir)
    return {"path": str(out_dir), "size": cfg.size, "classes": data.classes} | _skipped(data)


def train_vae(ctx: JobContext, out_dir: Path) -> dict[str, Any]:
    data = training_data(ctx.params)
    cfg = config_from(vae.VAEConfig, ctx.params, data)
    model = vae.train(cfg, data, ctx.progress, max(cfg.steps // 10, 1), _grid_writer(out_dir))
    vae.save(model, data.classes, out_dir)
    return {"path": str(out_dir), "size": cfg.size, "classes": data.classes} | _skipped(data)


def validate_model_dir(config: dict[str, Any]) -> None:
    if not isinstance(config.get("path"), str):
        raise InvalidRequest(
            "An image model needs its folder in config.path",
            param="config.path",
            code="missing_required_parameter",
        )
    if not (Path(config["path"]) / "config.json").exists():
        raise refused_value(
            "model_folder_lacks",
            "No trained model (config.json) in that folder",
            param="config",
            folder=Path(config["path"]).name,
            file="config.json",
        )


def bootstrap_defaults_of(db: Database, defaults: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Register and queue training of each default model unless it already exists."""
    with db.session() as s:
        platform = platform_operator(s)  # jobs belong to a tenant; the model is shared
        for name, (family, params) in defaults.items():
            exists = s.scalar(
                select(ModelRecord.id).where(
                    ModelRecord.name == name, ModelRecord.tenant_id.is_(None)
                )
            )
            if exists is None:
                start_training(s, platform, family, name, params, shared=True)
                log.info("queued training of the default model %s", name)


def bootstrap_share(
    defaults: dict[str, tuple[str, dict[str, Any]]], family: str
) -> Callable[[Database, Settings], None]:
    """A family's bootstrap: its share of ``defaults`` (queued in the order they are listed)."""
    mine = {name: entry for name, entry in defaults.items() if entry[0] == family}
    return lambda db, settings: bootstrap_defaults_of(db, mine)


GAN = register(
    Family(
        name="gan",
        kind="image",
        loader=lambda config: gan.GANModel(config["path"]),
        validate=validate_model_dir,
        config_schema=PATH_CONFIG,
        capabilities=frozenset({IMAGE_GENERATION, IMAGE_INTERPOLATION}),
        summary="Train a class-conditional DCGAN on images (e.g. -p steps=2000 -p size=32).",
        trainer=train_gan,
        trains_on="images",
        bootstrap=bootstrap_share(DEFAULT_MODELS, "gan"),
    )
)
VAE = register(
    Family(
        name="vae",
        kind="image",
        loader=lambda config: vae.VAEModel(config["path"]),
        validate=validate_model_dir,
        config_schema=PATH_CONFIG,
        capabilities=frozenset({IMAGE_GENERATION, IMAGE_INTERPOLATION, IMAGE_ENCODING}),
        summary="Train a (conditional) VAE on images (e.g. -p beta=1.0 -p conditional=false).",
        trainer=train_vae,
        trains_on="images",
        bootstrap=bootstrap_share(DEFAULT_MODELS, "vae"),
    )
)


def bootstrap_default(db: Database, settings: Settings) -> None:
    """Every default model of this module at once (what the families' bootstraps do in turn)."""
    bootstrap_defaults_of(db, DEFAULT_MODELS)
