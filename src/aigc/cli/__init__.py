"""The `aigc` command, one module per command group.

serve, migrate, backup, restore, audit (``serve.py``) · admin, keys (``admin.py``) · models
(``models.py``) · train, generated from the model families (``train.py``; jobs run by
``jobs.py``) · kb (``kb.py``) · policies (``policies.py``) · nginx-config (``deploy.py``).
Shared helpers are in ``common.py``.
"""

from __future__ import annotations

import typer

from aigc.cli import deploy, serve
from aigc.cli.admin import admin_app, keys_app
from aigc.cli.kb import kb_app
from aigc.cli.models import models_app
from aigc.cli.policies import policies_app
from aigc.cli.train import train_app

app = typer.Typer(help="aigc: self-hosted AIGC platform", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
serve.register(app)
deploy.register(app)
app.add_typer(train_app, name="train")
app.add_typer(kb_app, name="kb")
app.add_typer(policies_app, name="policies")

__all__ = ["app"]
