"""The long-lived objects one server process shares, built once in the app's lifespan."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

from aigc.access import Principal
from aigc.config import Settings
from aigc.gateway.auth import authenticate_key, hash_api_key
from aigc.gateway.limits import Limiter
from aigc.infra.audit import AuditLog, AuditWriter
from aigc.infra.db import Database
from aigc.infra.schema import ModelRecord
from aigc.infra.single_flight import SingleFlight
from aigc.infra.storage import BlobStore
from aigc.models.protocols import TextModel
from aigc.models.registry import ModelRegistry

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Recently looked-up values, so the hot path skips the database.

    Entries live ``ttl_s`` seconds; a change made by this instance clears the cache at once, and
    other instances see it within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 2.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl_s:
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)

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
    storage: BlobStore  # files, document sources, models, images: shared by every instance
    keys: TtlCache[str, Principal] = field(default_factory=TtlCache)
    models: TtlCache[tuple[str, str], ModelRecord] = field(default_factory=TtlCache)
    # When a cache entry (key, model, guard policies) expires under a burst, one request looks it
    # up; the rest wait for it (1,000 streams at once made 1,000 database lookups of each, every
    # one through a worker thread).
    lookups: SingleFlight = field(default_factory=SingleFlight)

    def cached_caller(self, digest: str) -> Principal | None:
        """A caller authenticated moments ago, unless its key has expired since (the cache
        would otherwise serve an expired key for up to its ttl)."""
        principal = self.keys.get(digest)
        ends = principal.expires_at if principal is not None else None
        if ends is not None and ends <= datetime.now(UTC):
            return None  # looked up again: ``authenticate_key`` says it has expired
        return principal

    def authenticate(self, secret: str) -> Principal:
        """The caller, from the database if need be (run it in a worker thread)."""
        digest = hash_api_key(secret)
        principal = self.cached_caller(digest)
        if principal is None:
            with self.db.session() as session:
                principal = authenticate_key(session, secret)
            self.keys.put(digest, principal)
        return principal

    async def caller(self, secret: str) -> Principal:
        """The caller: from the cache on the event loop, else one lookup in a worker thread per
        key at a time (callers with the same key meanwhile wait for it and read the cache)."""
        digest = hash_api_key(secret)  # hashed once per request: the cache's key and the lookup's
        return await self.lookups.get_or_load(
            ("key", digest),
            lambda: self.cached_caller(digest),
            lambda: run_in_threadpool(self.authenticate, secret),
        )

    def ready_model(self, principal: Principal, name: str) -> TextModel | None:
        """A model resolved and loaded recently, from the caches alone (no I/O); else None."""
        record = self.models.get((principal.tenant_id, name))
        if record is None or record.status != "ready":
            return None  # not ready: the database says how it is doing (and if it now is)
        self.registry.check_usable(principal, record)
        return self.registry.loaded(record)

    def load_model(self, principal: Principal, name: str) -> TextModel:
        """Resolve and load a model, from the database and disk if need be (in a thread)."""
        with self.db.session() as session:
            record = self.registry.find(session, principal, name)
            self.registry.check_usable(principal, record, session)
        # Cached once the session has committed: a refusal above rolls it back, which expires
        # the record, and a cached expired record (detached) failed the next caller (a 500).
        self.models.put((principal.tenant_id, name), record)
        return self.registry.load(record)

    async def model(self, principal: Principal, name: str) -> TextModel:
        """The model for a request: from the caches on the event loop, else loaded in a worker
        thread (resolving and loading read the database and disk), once per tenant and name at
        a time: callers that arrive meanwhile wait for it and read the caches."""
        return await self.lookups.get_or_load(
            ("model", principal.tenant_id, name),
            lambda: self.ready_model(principal, name),
            lambda: run_in_threadpool(self.load_model, principal, name),
        )

    def models_changed(self) -> None:
        self.models.clear()
