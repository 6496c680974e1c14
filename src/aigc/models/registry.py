"""The model registry: model ids → records (who owns them, status) → loaded backends.

A model belongs to one tenant or, with ``tenant_id`` NULL, is shared by the platform with all.
Lookups resolve the caller's own model first, then a shared one of the same name; a model of
another tenant is reported as not found. Everything that depends on a model's family (its
loader, config checks, capabilities) comes from the family's descriptor (``models.family``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aigc.access import Principal, require_model_allowed, require_platform_admin, require_role
from aigc.config import DeploymentOptions
from aigc.errors import (
    Conflict,
    ModelNotFound,
    ModelNotReady,
    PermissionDenied,
    refused,
    refused_value,
)
from aigc.infra import untrusted
from aigc.infra.hf_import import load_transformers
from aigc.infra.paths import check_import_path
from aigc.infra.schema import ModelRecord, new_id, unix_time
from aigc.infra.storage import BlobStore, folders
from aigc.models.base import LoadedModel
from aigc.models.family import Family, families, get_family
from aigc.models.protocols import TextModel
from aigc.models.resources import MemoryBudget, default_budgets, footprint
from aigc.models.training_status import training_detail

Loader = Callable[[dict[str, Any]], TextModel]


def _family(name: str) -> Family:
    family = get_family(name)
    if family is None:  # a record of a family whose module is not loaded (a removed plugin)
        raise refused_value(
            "family_not_installed",
            "No model family '{family}' is installed",
            param="model",
            code="unsupported_model",
            family=name,
        )
    return family


def loader_for(family_name: str, name: str, config: dict[str, Any]) -> Loader:
    """The family's loader, or the continuous-batching engine when the config asks for it
    (``"engine": {...}`` with EngineConfig fields, ``"device"`` optional). A Ray Serve replica
    loads its model with this same function (``models.ray_serving``)."""
    family = _family(family_name)
    if family.engine and "engine" in config:
        load_transformers()
        from aigc.models.engine.serving import load_from_config

        return functools.partial(load_from_config, name=name)  # metrics say its name
    return family.loader


def _loader(record: ModelRecord) -> Loader:
    return loader_for(record.family, record.name, record.config)


class RemoteServing(Protocol):
    """Where models run when not in this process (Ray Serve: ``models.ray_serving``)."""

    def serves(self, record: ModelRecord) -> bool: ...

    def load(self, record: ModelRecord) -> TextModel: ...

    def undeploy(self, record: ModelRecord) -> None: ...


def check_deployment(options: Any) -> None:
    """A record's own Ray Serve options (``config.deployment``): 400 naming what is wrong."""
    if not isinstance(options, dict):
        raise refused_value(
            "dict", "deployment is an object of Ray Serve options", param="deployment"
        )
    try:
        DeploymentOptions.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'deployment'}: {e['msg']}"
            for e in exc.errors()
        )
        raise refused_value(
            "deployment_invalid", "deployment: {problems}", param="deployment", problems=problems
        ) from None


def family_of(name: str) -> str:
    """The family a model id names by its prefix (``gpt-support`` → ``gpt``); 400 otherwise."""
    family = name.split("-", 1)[0]
    if "-" not in name or get_family(family) is None:
        prefixes = ", ".join(f"{f.name}-" for f in families())
        raise refused_value(
            "model_id_prefix",
            "Model ids start with their family and a dash ({prefixes})",
            param="id",
            prefixes=prefixes,
        )
    return family


def stored_version(record: ModelRecord) -> str | None:
    """The version of a trained model's folder in the blob store (None: not stored there)."""
    storage = (record.config or {}).get("storage")
    return str(storage.get("version")) if isinstance(storage, dict) else None


def local_config(record: ModelRecord, store: BlobStore | None, cache_dir: Path) -> dict[str, Any]:
    """The record's config with ``path`` naming a folder on this machine: a model in the blob
    store is materialised at the version the database records (``infra.storage.folders``)."""
    return stored_config(dict(record.config or {}), store, cache_dir)


def stored_config(
    config: dict[str, Any], store: BlobStore | None, cache_dir: Path
) -> dict[str, Any]:
    """``config`` with ``path`` on this machine (also a Ray replica's, on any node)."""
    storage = config.get("storage")
    if store is None or not isinstance(storage, dict):
        return config
    folder = folders.materialise(
        store, str(storage["prefix"]), str(storage["version"]), cache_dir / "blobs"
    )
    return config | {"path": str(folder)}


class ModelRegistry:
    """Resolves and loads models; loaded backends are cached per record and stored version.

    With a blob store, a trained model is loaded from the store's folder or a local cache of
    it (under ``cache_dir``); when the database names another version (retrained, replaced),
    the next ``load`` drops the old backend and loads the new one.
    """

    def __init__(
        self,
        import_roots: list[Path] | None = None,
        store: BlobStore | None = None,
        cache_dir: Path | None = None,
        remote: RemoteServing | None = None,
    ) -> None:
        self.import_roots = import_roots or []
        self.store = store
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path("aigc-data", "cache")
        self.remote = remote  # set: the models it serves run there (Ray), the rest here
        self._loaded: dict[str, TextModel] = {}
        self._versions: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self.memory = MemoryBudget(default_budgets())  # unloads least recently used models

    # --- lookups --------------------------------------------------------------------------

    def visible(self, session: Session, principal: Principal) -> list[ModelRecord]:
        """The models a caller sees: its organization's and the shared ones (its own first),
        only those its key's ``allowed_models`` names."""
        rows = session.scalars(
            select(ModelRecord)
            .where(
                or_(ModelRecord.tenant_id == principal.tenant_id, ModelRecord.tenant_id.is_(None))
            )
            .order_by(ModelRecord.name)
        )
        own = {}
        for row in rows:
            if row.name not in own or row.tenant_id is not None:
                own[row.name] = row
        allowed = principal.allowed_models
        return [r for r in own.values() if allowed is None or r.name in allowed]

    def resolve(self, session: Session, principal: Principal, name: str) -> ModelRecord:
        """The record a caller means by ``name``, after allow-list and readiness checks."""
        record = self.find(session, principal, name)
        self.check_usable(principal, record, session)
        return record

    def check_usable(
        self, principal: Principal, record: ModelRecord, session: Session | None = None
    ) -> None:
        """403 when the key may not use the model, 503 while it is not ready (e.g. training;
        with a ``session``, the 503 says how its training job is doing)."""
        require_model_allowed(principal, record.name)
        if record.status != "ready":
            text = record.status_detail
            if session is not None and record.status == "training":
                text = training_detail(session, record)
            detail = f" ({text})" if text else ""
            raise refused(
                ModelNotReady,
                "model_not_ready",
                "The model '{model}' is not ready yet: {status}{detail}",
                param="model",
                headers={"Retry-After": "30"},
                model=record.name,
                status=record.status,
                detail=detail,
            )

    def find(self, session: Session, principal: Principal, name: str) -> ModelRecord:
        """The record ``name`` means to the caller; a name its key's ``allowed_models`` lacks
        is a 403 whether or not it exists (a limited key learns nothing of other models)."""
        require_model_allowed(principal, name)
        if len(name) > untrusted.LIMIT:  # longer than any stored name: no query, no echo
            raise ModelNotFound(
                f"The model '{untrusted.field(name)}' does not exist", param="model"
            )
        rows = session.scalars(
            select(ModelRecord).where(
                ModelRecord.name == name,
                or_(ModelRecord.tenant_id == principal.tenant_id, ModelRecord.tenant_id.is_(None)),
            )
        ).all()
        if not rows:
            raise ModelNotFound(
                f"The model '{untrusted.field(name)}' does not exist", param="model"
            )
        return next((r for r in rows if r.tenant_id is not None), rows[0])

    def load(self, record: ModelRecord) -> TextModel:
        if record.id in self._loaded and self._versions.get(record.id) != stored_version(record):
            self.forget(record.id)  # the database names a newer folder: this one is stale
        with self._lock:
            model = self._loaded.get(record.id)
            if model is not None:
                self.memory.touch(record.id)
                return model
            if self.remote is not None and self.remote.serves(record):
                model = self.remote.load(record)  # a handle: nothing of it held here
            else:
                model = _loader(record)(local_config(record, self.store, self.cache_dir))
            self._loaded[record.id] = model
            self._versions[record.id] = stored_version(record)
        device, size = footprint(model)
        try:
            self.memory.admit(record.id, device, size, unload=self.forget)
        except Exception:
            self.forget(record.id)
            raise
        return model

    def loaded(self, record: ModelRecord) -> TextModel | None:
        if self._versions.get(record.id) != stored_version(record):
            return None  # loaded at another version: ``load`` replaces it
        model = self._loaded.get(record.id)
        if model is not None:
            self.memory.touch(record.id)
        return model

    def forget(self, record_id: str) -> None:
        with self._lock:
            model = self._loaded.pop(record_id, None)
            self._versions.pop(record_id, None)
        self.memory.forget(record_id)
        if isinstance(model, LoadedModel):
            model.unload()  # e.g. an engine stops its thread once its requests are done

    # --- management -----------------------------------------------------------------------

    def register(
        self,
        session: Session,
        principal: Principal | None,
        name: str,
        config: dict[str, Any],
        *,
        shared: bool = False,
        tenant_id: str | None = None,
    ) -> ModelRecord:
        """Add a model for the caller's tenant (or, for the platform admin, for everyone).

        ``principal`` None is the local CLI: it names the owner with ``tenant_id`` (None: shared).
        """
        family = _family(family_of(name))
        if family.validate is None:
            raise refused_value(
                "family_not_registrable",
                "Models of the '{family}' family cannot be registered yet",
                param="id",
                code="unsupported_value",
                family=family.name,
            )
        if principal is not None:
            tenant_id = None
            require_role(principal, "admin")
            # A key limited to some models registers only those: any other would be a model of
            # the organization that the key chose and may not use (nor see, in a listing).
            require_model_allowed(principal, name, param="id")
            if shared:
                require_platform_admin(principal)
            else:
                tenant_id = principal.tenant_id
        if "storage" in config:
            # Written by training alone: it names a folder of the blob store to load from, so
            # a caller naming one reached other models' folders (and pruned their caches).
            raise refused_value(
                "storage_set_by_training",
                "config.storage is where training keeps a model; it is not set by hand",
                param="config.storage",
            )
        if "path" in config:
            if principal is not None:
                require_platform_admin(principal)  # server paths: CLI or platform admin only
            config = config | {"path": str(check_import_path(config["path"], self.import_roots))}
        deployment = config.get("deployment")
        if deployment is not None:
            if principal is not None:
                # How a model runs on the cluster (replicas, GPUs, runtime_env: packages to
                # install, code to fetch, environment) is the operator's, as server paths are.
                require_platform_admin(principal, param="deployment")
            check_deployment(deployment)
            config = {k: v for k, v in config.items() if k != "deployment"}
        family.validate(config)
        if deployment is not None:
            config = config | {"deployment": deployment}
        if family.prepare is not None:
            config = family.prepare(config, principal, session)
        clash = session.scalar(
            select(ModelRecord).where(ModelRecord.name == name, ModelRecord.tenant_id == tenant_id)
        )
        if clash is not None:
            raise refused(
                Conflict,
                "model_name_taken",
                "A model named '{name}' already exists",
                param="id",
                name=name,
            )
        record = ModelRecord(
            id=new_id("mdl_"),
            tenant_id=tenant_id,
            name=name,
            family=family.name,
            kind=family.kind,
            config=config,
        )
        session.add(record)
        session.flush()
        return record

    def delete(self, session: Session, principal: Principal, name: str) -> None:
        require_role(principal, "admin")
        record = self.find(session, principal, name)
        if record.tenant_id is None and not principal.platform_admin:
            raise refused(
                PermissionDenied,
                "model_shared_by_platform",
                "The model '{model}' is shared by the platform",
                param="model",
                model=name,
            )
        session.delete(record)
        self.forget(record.id)
        if self.remote is not None and self.remote.serves(record):
            self.remote.undeploy(record)


def ensure_builtin_models(session: Session) -> None:
    """Register the shipped models that need no training (shared with every tenant)."""
    exists = session.scalar(
        select(ModelRecord).where(
            ModelRecord.name == "template-helpdesk", ModelRecord.tenant_id.is_(None)
        )
    )
    if exists is None:
        session.add(
            ModelRecord(
                id=new_id("mdl_"),
                tenant_id=None,
                name="template-helpdesk",
                family="template",
                config={"path": "builtin:helpdesk"},
            )
        )


def model_view(record: ModelRecord) -> dict[str, Any]:
    return {
        "id": record.name,
        "object": "model",
        "created": unix_time(record.created_at) or 0,
        "owned_by": record.tenant_id or "aigc",
        "family": record.family,
        "kind": record.kind,
        "capabilities": capabilities(record),
        "status": record.status,
        "shared": record.tenant_id is None,
        # Trained models carry their validation perplexity (None for the others).
        "val_perplexity": (record.config or {}).get("val_perplexity"),
    }


def capabilities(record: ModelRecord) -> list[str]:
    """What the model can do, from its family's declaration (and its config where they differ)."""
    family = get_family(record.family)
    return family.model_capabilities(record.config) if family is not None else []
