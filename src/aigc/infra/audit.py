"""The audit log: one append-only record per request, chained with HMAC-SHA256.

Each row's hash signs all of its fields, its ``seq`` and the previous row's hash, so editing,
replacing or forging a row breaks it without the server secret. The head row (count and last
hash, signed too) catches what a chain alone cannot: rows removed from the end. Records carry
ids, counts and hashes only, never prompt or completion content.

A valid but *old* head put back together with a truncated table still verifies; catching that
roll-back needs the head anchored outside the database (e.g. a periodic signed export).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aigc.infra import untrusted
from aigc.infra.db import Database, rowcount
from aigc.infra.schema import AuditHead, AuditRecord

logger = logging.getLogger("aigc.audit")

GENESIS = "0" * 64
_RECORDS: Table = AuditRecord.metadata.tables[AuditRecord.__tablename__]
_HEAD: Table = AuditHead.metadata.tables[AuditHead.__tablename__]
_HEAD_ID = 1
_VERIFY_BATCH = 2000
_MAX_PROBLEMS = 100
_SIGNED_FIELDS = (
    "seq",
    "request_id",
    "ts",
    "day",
    "tenant_id",
    "key_id",
    "user_id",
    "method",
    "endpoint",
    "model",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "guard",
    "prev_hash",
)
# Signed only when not zero, after the fields above: rows written before a field existed (with
# its column's default) keep the signature they were written with.
_SIGNED_IF_SET = ("images",)
_GROUPS = ("day", "key_id", "model")


class AuditIntegrityError(RuntimeError):
    """The stored chain is not in a state this server may extend (tampered or foreign head)."""


@dataclass(frozen=True)
class AuditEvent:
    """What one request leaves behind: who, what, outcome and size; never the content."""

    request_id: str
    ts: datetime
    tenant_id: str | None
    key_id: str | None
    user_id: str | None
    method: str
    endpoint: str
    model: str | None
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    guard: tuple[str, ...] = ()
    images: int = 0  # images in the request's input: a count, never their bytes


@dataclass
class VerifyResult:
    ok: bool
    count: int
    problems: list[str] = field(default_factory=list)


def _clip(value: str | None, column: str) -> str | None:
    """Cut to the column's width, so an over-long id cannot make a batch fail forever."""
    length = getattr(_RECORDS.c[column].type, "length", None)
    if value is None or length is None:
        return value
    return value[:length]


def _timestamp(ts: datetime) -> str:
    """A fixed-width UTC timestamp; a naive datetime is taken to be UTC already."""
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row_values(event: AuditEvent, seq: int, prev_hash: str) -> dict[str, Any]:
    ts = _timestamp(event.ts)
    return {
        "seq": seq,
        "request_id": _clip(event.request_id, "request_id"),
        "ts": ts,
        "day": ts[:10],
        "tenant_id": _clip(event.tenant_id, "tenant_id"),
        "key_id": _clip(event.key_id, "key_id"),
        "user_id": _clip(event.user_id, "user_id"),
        "method": _clip(event.method, "method"),
        "endpoint": _clip(event.endpoint, "endpoint"),
        "model": _clip(untrusted.field(event.model), "model"),  # a caller's text
        "status": int(event.status),
        "prompt_tokens": int(event.prompt_tokens),
        "completion_tokens": int(event.completion_tokens),
        "latency_ms": round(float(event.latency_ms), 3),
        "guard": json.dumps(list(event.guard), separators=(",", ":")),
        "prev_hash": prev_hash,
        "images": int(event.images),
    }


class AuditLog:
    """Appends to and verifies the chain; safe to share across threads and processes."""

    def __init__(self, db: Database, secret: bytes) -> None:
        self._db = db
        self._secret = secret

    def _mac(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def _row_hash(self, row: Mapping[Any, Any]) -> str:
        """HMAC over a canonical JSON array of every signed field, in a fixed order; then
        ``{name: value}`` for each later field that is set."""
        values = [row[name] for name in _SIGNED_FIELDS]
        values += [{name: row[name]} for name in _SIGNED_IF_SET if row[name]]
        return self._mac(json.dumps(["v1", *values], separators=(",", ":"), ensure_ascii=False))

    def _head_mac(self, count: int, last_hash: str) -> str:
        return self._mac(f"head|{count}|{last_hash}")

    def _lock_head(self, session: Session) -> Any:
        """Take the head row's lock (SQLite: the write lock), creating the row if needed.

        The no-op UPDATE is the portable way to serialise chain extension between processes;
        when two processes both find no head, insert-or-ignore lets exactly one create it.
        """
        lock = update(_HEAD).where(_HEAD.c.id == _HEAD_ID).values(count=_HEAD.c.count)
        if rowcount(session.execute(lock)) == 0:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            values = {
                "id": _HEAD_ID,
                "count": 0,
                "last_hash": GENESIS,
                "mac": self._head_mac(0, GENESIS),
            }
            session.execute(dialect.insert(_HEAD).values(values).on_conflict_do_nothing())
            session.execute(lock)
        query = select(_HEAD.c.count, _HEAD.c.last_hash, _HEAD.c.mac)
        return session.execute(query.where(_HEAD.c.id == _HEAD_ID)).one()

    def append(self, events: Sequence[AuditEvent]) -> None:
        """Extend the chain by ``events`` in one transaction.

        Refuses (AuditIntegrityError) to extend a head whose signature is wrong or that rows
        already lie beyond: re-signing it would launder the tampering.
        """
        if not events:
            return
        with self._db.session() as session:
            head = self._lock_head(session)
            if not hmac.compare_digest(head.mac, self._head_mac(head.count, head.last_hash)):
                raise AuditIntegrityError(
                    "audit head signature invalid; run verify to see what changed"
                )
            beyond = select(_RECORDS.c.seq).where(_RECORDS.c.seq > head.count).limit(1)
            if session.execute(beyond).first() is not None:
                raise AuditIntegrityError("audit rows exist beyond the signed head; run verify")
            seq, prev = head.count, head.last_hash
            rows = []
            for event in events:
                seq += 1
                row = _row_values(event, seq, prev)
                row["hash"] = prev = self._row_hash(row)
                rows.append(row)
            session.execute(insert(_RECORDS), rows)
            session.execute(
                update(_HEAD)
                .where(_HEAD.c.id == _HEAD_ID)
                .values(count=seq, last_hash=prev, mac=self._head_mac(seq, prev))
            )

    def verify(self) -> VerifyResult:
        """Walk the chain in ``seq`` order, in batches, and say in plain words what is wrong.

        The head is read first; rows appended concurrently after it carry valid signatures and
        links, so they pass, while a forged row fails its signature wherever it sits.
        """
        problems = _Problems()
        with self._db.session() as session:
            head = session.execute(
                select(_HEAD.c.count.label("count_"), _HEAD.c.last_hash, _HEAD.c.mac).where(
                    _HEAD.c.id == _HEAD_ID
                )
            ).one_or_none()
        head_count = head.count_ if head is not None else None
        columns = [_RECORDS.c[name] for name in (*_SIGNED_FIELDS, *_SIGNED_IF_SET, "hash")]
        expected, prev, prev_valid, walked = 1, GENESIS, True, 0
        after: int | None = None
        hash_at_head: str | None = None
        while True:
            query = select(*columns).order_by(_RECORDS.c.seq).limit(_VERIFY_BATCH)
            if after is not None:
                query = query.where(_RECORDS.c.seq > after)
            with self._db.session() as session:
                batch = session.execute(query).mappings().all()
            if not batch:
                break
            for row in batch:
                seq = after = row["seq"]
                walked += 1
                if seq < 1:
                    problems.add(f"row {seq} was inserted")
                    continue
                gap = seq > expected
                if gap:
                    problems.add(_missing(expected, seq - 1))
                valid = hmac.compare_digest(self._row_hash(row), row["hash"])
                if not valid:
                    inserted = head_count is not None and seq > head_count
                    problems.add(f"row {seq} was {'inserted' if inserted else 'edited'}")
                elif not gap and prev_valid and row["prev_hash"] != prev:
                    problems.add(f"row {seq} does not link to row {seq - 1}")
                if seq == head_count:
                    hash_at_head = row["hash"]
                prev, prev_valid, expected = row["hash"], valid, seq + 1
        last_seq = expected - 1
        if head is None:
            if walked:
                problems.add("the head row is missing")
        else:
            if not hmac.compare_digest(head.mac, self._head_mac(head.count_, head.last_hash)):
                problems.add("head signature invalid")
            if last_seq < head.count_:
                problems.add(f"the last {head.count_ - last_seq} row(s) were removed")
            elif hash_at_head is not None and hash_at_head != head.last_hash:
                problems.add(f"the head does not match row {head.count_}")
        found = problems.result()
        return VerifyResult(ok=not found, count=walked, problems=found)


def _missing(first: int, last: int) -> str:
    return f"row {first} is missing" if first == last else f"rows {first} to {last} are missing"


class _Problems:
    """Keeps the first problems verbatim and counts the rest, so memory stays bounded."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._more = 0

    def add(self, problem: str) -> None:
        if len(self._items) < _MAX_PROBLEMS:
            self._items.append(problem)
        else:
            self._more += 1

    def result(self) -> list[str]:
        return [*self._items, f"and {self._more} more problem(s)"] if self._more else self._items


_STOP = object()


class AuditWriter:
    """Background thread with a queue: submit() never blocks the request path; batches commits.

    A failed batch is logged and retried with backoff, never dropped; only close() past its
    deadline gives up, and then says loudly how many records were lost.
    """

    def __init__(self, log: AuditLog, max_batch: int = 256, flush_interval_s: float = 0.05) -> None:
        self._log = log
        self._max_batch = max_batch
        self._interval = flush_interval_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._submitted = 0
        self._committed = 0
        self._closed = False
        self._give_up = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aigc-audit", daemon=True)
            self._thread.start()

    def submit(self, event: AuditEvent) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            self._submitted += 1
            self._queue.put(event)

    def flush(self, timeout: float = 10.0) -> None:
        """Return when everything submitted so far is committed; TimeoutError otherwise."""
        if self._thread is None:
            raise RuntimeError("the audit writer was not started")
        with self._cond:
            target = self._submitted
            if not self._cond.wait_for(lambda: self._committed >= target, timeout):
                pending = target - self._committed
                raise TimeoutError(f"{pending} audit record(s) not committed after {timeout}s")

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything, then stop the thread; after ``timeout`` stop retrying and report."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self.start()
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._give_up.set()
            self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if not isinstance(item, AuditEvent):  # the stop mark
                return
            batch: list[AuditEvent] = [item]
            stopping = self._fill(batch)
            if not self._commit(batch):
                with self._cond:
                    lost = self._submitted - self._committed
                logger.error("audit writer stopped with %d record(s) not written", lost)
                return
            if stopping:
                return

    def _fill(self, batch: list[AuditEvent]) -> bool:
        """Let events gather for the flush interval, then drain them in one go.

        Sleeping instead of waking for every event keeps this thread (and its hold on the GIL)
        away from the request path; True when the stop mark was seen.
        """
        time.sleep(self._interval)
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if not isinstance(item, AuditEvent):  # the stop mark
                return True
            batch.append(item)
        return False

    def _commit(self, batch: list[AuditEvent]) -> bool:
        """Append with retries; False only once close() has given up."""
        delay = 0.05
        while True:
            try:
                self._log.append(batch)
                break
            except Exception as exc:
                reason = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
                if self._give_up.is_set():
                    logger.error("writing %d audit record(s) failed: %s", len(batch), reason)
                    return False
                logger.error(
                    "writing %d audit record(s) failed (%s); retrying in %.2fs",
                    len(batch),
                    reason,
                    delay,
                )
                self._give_up.wait(delay)
                delay = min(delay * 2, 5.0)
        with self._cond:
            self._committed += len(batch)
            self._cond.notify_all()
        return True


def _day(value: str | date | None, name: str) -> str | None:
    """Normalise a day to ``YYYY-MM-DD``; a malformed one is a clear ValueError."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{name} must be a day like 2025-01-31, not {value!r}") from None


def usage(
    db: Database,
    tenant_id: str,
    since_day: str | None,
    until_day: str | None,
    group_by: Sequence[str],
) -> list[dict[str, Any]]:
    """Requests, tokens and mean latency of one tenant, grouped by any of day, key_id, model.

    The tenant filter lives here, not in the caller, so no route can forget it. Days are
    inclusive; with no grouping the single row holds the totals (zeros when nothing matched).
    """
    unknown = [g for g in group_by if g not in _GROUPS]
    if unknown:
        raise ValueError(f"cannot group usage by {unknown}; choose from {list(_GROUPS)}")
    keys = [_RECORDS.c[g] for g in dict.fromkeys(group_by)]
    prompt = func.coalesce(func.sum(_RECORDS.c.prompt_tokens), 0)
    completion = func.coalesce(func.sum(_RECORDS.c.completion_tokens), 0)
    query = (
        select(
            *keys,
            func.count().label("requests"),
            prompt.label("prompt_tokens"),
            completion.label("completion_tokens"),
            func.coalesce(func.avg(_RECORDS.c.latency_ms), 0.0).label("latency_ms"),
        )
        .where(_RECORDS.c.tenant_id == tenant_id)
        .group_by(*keys)
        .order_by(*keys)
    )
    since, until = _day(since_day, "since_day"), _day(until_day, "until_day")
    if since is not None:
        query = query.where(_RECORDS.c.day >= since)
    if until is not None:
        query = query.where(_RECORDS.c.day <= until)
    with db.session() as session:
        rows = session.execute(query).mappings().all()
    result = []
    for row in rows:
        item: dict[str, Any] = {key.name: row[key.name] for key in keys}
        item["requests"] = int(row["requests"])
        item["prompt_tokens"] = int(row["prompt_tokens"])
        item["completion_tokens"] = int(row["completion_tokens"])
        item["total_tokens"] = item["prompt_tokens"] + item["completion_tokens"]
        item["latency_ms"] = round(float(row["latency_ms"]), 3)
        result.append(item)
    return result


def tokens_used_on(db: Database, tenant_id: str, day: str | date) -> int:
    """Prompt plus completion tokens of the tenant that day: seeds the daily budget on start."""
    total = func.coalesce(func.sum(_RECORDS.c.prompt_tokens + _RECORDS.c.completion_tokens), 0)
    query = select(total).where(
        _RECORDS.c.tenant_id == tenant_id, _RECORDS.c.day == _day(day, "day")
    )
    with db.session() as session:
        return int(session.execute(query).scalar_one())


# What a listing shows: the signed fields but the chain's own bookkeeping.
_LISTED_FIELDS = tuple(
    f for f in (*_SIGNED_FIELDS, *_SIGNED_IF_SET) if f not in ("day", "prev_hash")
)
MAX_PAGE = 200


@dataclass(frozen=True)
class AuditFilter:
    """What an audit reader narrows the log to; every field is optional but the tenant."""

    since_day: str | None = None
    until_day: str | None = None
    key_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    endpoint: str | None = None  # a prefix: "/v1/chat" matches "/v1/chat/completions"
    status: str | None = None  # "404" exactly, or a class: "4xx"


def _status_range(status: str) -> tuple[int, int]:
    """``"404"`` → (404, 404); ``"4xx"`` → (400, 499); anything else is a ValueError."""
    text = status.strip().lower()
    if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
        low = int(text[0]) * 100
        return low, low + 99
    if len(text) == 3 and text.isdigit():
        return int(text), int(text)
    raise ValueError(f"status is a code like 404 or a class like 4xx, not {status!r}")


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def records(
    db: Database, tenant_id: str, where: AuditFilter, limit: int = 50, offset: int = 0
) -> tuple[int, list[dict[str, Any]]]:
    """One tenant's audit rows, newest first, and how many match in all (for paging).

    The rows hold what the chain signs (ids, route, model, status, counts, guard codes) and
    nothing else: the log has no request or answer text to give. The tenant filter is applied
    here so no caller can forget it.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise ValueError("offset must not be negative")
    conditions = [_RECORDS.c.tenant_id == tenant_id]
    since, until = _day(where.since_day, "since_day"), _day(where.until_day, "until_day")
    if since is not None:
        conditions.append(_RECORDS.c.day >= since)
    if until is not None:
        conditions.append(_RECORDS.c.day <= until)
    for column in ("key_id", "user_id", "model"):
        value = getattr(where, column)
        if value is not None:
            conditions.append(_RECORDS.c[column] == value)
    if where.endpoint:
        conditions.append(_RECORDS.c.endpoint.like(_like_prefix(where.endpoint), escape="\\"))
    if where.status:
        low, high = _status_range(where.status)
        conditions.append(_RECORDS.c.status.between(low, high))
    columns = [_RECORDS.c[name] for name in _LISTED_FIELDS]
    page = (
        select(*columns)
        .where(*conditions)
        .order_by(_RECORDS.c.seq.desc())
        .limit(limit)
        .offset(offset)
    )
    with db.session() as session:
        total = int(
            session.execute(
                select(func.count()).select_from(_RECORDS).where(*conditions)
            ).scalar_one()
        )
        rows = session.execute(page).mappings().all()
    result = []
    for row in rows:
        item = dict(row)
        item["guard"] = json.loads(row["guard"]) if row["guard"] else []
        item["latency_ms"] = round(float(row["latency_ms"]), 3)
        result.append(item)
    return total, result
