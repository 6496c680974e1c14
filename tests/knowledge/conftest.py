"""A knowledge-base sandbox: a SQLite database with two tenants and a data directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aigc.access import Principal
from aigc.config import Settings
from aigc.infra.db import Database
from aigc.infra.schema import Tenant
from aigc.knowledge import bases
from aigc.knowledge.ingest import add_document, ingest_documents
from aigc.tables import Base


@dataclass
class Sandbox:
    db: Database
    settings: Settings
    admin_a: Principal
    admin_b: Principal

    def kb(self, principal: Principal, name: str, **kwargs: object) -> str:
        with self.db.session() as s:
            return bases.create_kb(s, principal, name, **kwargs).id  # type: ignore[arg-type]

    def add(self, principal: Principal, kb_id: str, files: dict[str, bytes]) -> list[str]:
        """Store files; return the ids of those that changed (and so need ingestion)."""
        changed = []
        with self.db.session() as s:
            for name, data in files.items():
                added = add_document(s, self.settings, principal, kb_id, name, [data])
                if added.changed:
                    changed.append(added.document.id)
        return changed

    def ingest(self, principal: Principal, kb_id: str, files: dict[str, bytes]) -> dict:
        changed = self.add(principal, kb_id, files)
        return ingest_documents(self.db, self.settings, principal.tenant_id, kb_id, changed)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    db = Database(f"sqlite:///{tmp_path / 'kb.db'}")
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        s.add_all([Tenant(id="t_a", name="A"), Tenant(id="t_b", name="B")])
    settings = Settings(data_dir=tmp_path / "data")
    yield Sandbox(
        db,
        settings,
        Principal(tenant_id="t_a", role="admin", key_id="key_a"),
        Principal(tenant_id="t_b", role="admin", key_id="key_b"),
    )
    db.dispose()
