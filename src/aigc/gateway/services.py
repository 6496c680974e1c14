"""The long-lived objects one server process shares, built once in the app's lifespan."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from aigc.config import Settings
from aigc.gateway.auth import Principal, authenticate_key, hash_api_key
from aigc.gateway.limits import Limiter
from aigc.infra.audit import AuditLog, AuditWriter
from aigc.infra.db import Database
from aigc.models.protocols import TextModel
from aigc.models.registry import ModelRegistry


class KeyCache:
    """Recently authenticated keys, so the hot path skips the database.

    Entries live ``ttl_s`` seconds; revoking a key clears this instance's cache at once, and
    other instances see the revocation within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 2.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, secret_hash: str) -> Principal | None:
        entry = self._entries.get(secret_hash)
        if entry is None or time.monotonic() - entry[0] > self.ttl_s:
            return None
        return entry[1]

    def put(self, secret_hash: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[secret_hash] = (time.monotonic(), principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Services:
    settings: Settings
    db: Database
    registry: ModelRegistry
    limiter: Limiter
    audit_log: AuditLog
    audit: AuditWriter
    keys: KeyCache = field(default_factory=KeyCache)

    def authenticate(self, secret: str) -> Principal:
        digest = hash_api_key(secret)
        principal = self.keys.get(digest)
        if principal is None:
            with self.db.session() as session:
                principal = authenticate_key(session, secret)
            self.keys.put(digest, principal)
        return principal

    def load_model(self, principal: Principal, name: str) -> TextModel:
        with self.db.session() as session:
            record = self.registry.resolve(session, principal, name)
        return self.registry.load(record)
