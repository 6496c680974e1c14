"""The default models of a fresh install start here, from each family's ``bootstrap``.

A family that ships a default model gives its ``Family`` a ``bootstrap(db, settings)``, called
at every start unless ``AIGC_DEFAULT_MODELS=off``: it must return quickly, registering a shared
model record and, when the model needs training, submitting a job whose progress the model's
status shows ("training" → "ready"). It must be idempotent (the next start finds the model or
its job and does nothing).
"""

from __future__ import annotations

from aigc.config import Settings
from aigc.infra.db import Database
from aigc.models.family import load_families


def bootstrap_defaults(db: Database, settings: Settings) -> None:
    """Each family's default models, in the order the families were registered."""
    for family in load_families(settings.family_modules):
        if family.bootstrap is not None:
            family.bootstrap(db, settings)
