"""Model families plug in here, and the default models of a fresh install start here.

Each family module listed in ``FAMILY_MODULES`` registers itself when imported: its loader in
``registry.LOADERS`` (and ``VALIDATORS``), its training handlers with
``infra.jobs.register_handler``. If it ships a default model it defines
``bootstrap_default(db, settings)``, called at every start unless ``AIGC_DEFAULT_MODELS=off``:
it must return quickly, registering a shared model record and, when the model needs training,
submitting a job whose progress the model's status shows ("training" → "ready"). It must be
idempotent (the next start finds the model or its job and does nothing).
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from aigc.config import Settings
from aigc.infra.db import Database

log = logging.getLogger("aigc.models")

FAMILY_MODULES: list[str] = [
    "aigc.models.upstream",
    "aigc.models.text.ngram",
    "aigc.models.text.gpt",
    "aigc.models.text.rnn",
    "aigc.models.text.hf",
    "aigc.models.image.family",
    "aigc.models.multimodal.family",
]


def load_families() -> list[ModuleType]:
    """Import every family module so its loaders and job handlers are registered."""
    return [importlib.import_module(name) for name in FAMILY_MODULES]


def bootstrap_defaults(db: Database, settings: Settings) -> None:
    for module in load_families():
        bootstrap = getattr(module, "bootstrap_default", None)
        if bootstrap is not None:
            bootstrap(db, settings)
