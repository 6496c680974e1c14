"""Every table of the platform on one ``Base.metadata``: import this to have them all.

The tables live beside their code (``infra/schema.py``, ``infra/sso_tables.py``,
``guard/tables.py``, ``knowledge/tables.py``) and each imports ``Base`` from ``infra``; this
module sits above them all so that ``infra`` never imports the packages above it. Alembic's
environment, the tests' ``create_all`` and the benches import it.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from aigc.guard import tables as guard_tables
from aigc.infra import schema, sso_tables
from aigc.infra.db import Base
from aigc.knowledge import tables as knowledge_tables

metadata: MetaData = Base.metadata

__all__ = ["Base", "guard_tables", "knowledge_tables", "metadata", "schema", "sso_tables"]
