"""Per-key requests/tokens per minute and per-tenant daily token budgets, exact under concurrency.

Tokens are reserved at admission (prompt + max_tokens) and settled with the real count once the
response is done, so a burst of long requests can never overshoot a limit. Windows slide: a key's
admissions are logged with their time and leave the count 60 s later, so there is no edge at a
bucket boundary to burst across. Two backends share the semantics: in-process (one server
process) and Redis, where one Lua script decides and records atomically so that every server
process sharing the Redis enforces one limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aigc.errors import Overloaded, QuotaExceeded, RateLimited, refused
from aigc.infra.single_flight import SingleFlight

DailyUsage = Callable[[str, str], int]
"""(tenant_id, UTC day) -> tokens the tenant already used that day, from durable storage."""

_DAY_S = 86_400
_RECORD_TTL_S = 2 * _DAY_S  # daily counters and unsettled reservations: long enough, yet bounded
_PREFIX = "aigc:rl:"
_REDIS_CONNECTIONS = 64  # per process; each decision is one short script
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)  # the server, not the request
_REDIS_RETRY_AFTER_S = 5

log = logging.getLogger("aigc.limits")


@dataclass(frozen=True)
class LimitSpec:
    """The limits that apply to one request; None means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None


@dataclass
class Reservation:
    """What admission charged, to be settled with the real token count.

    ``id`` is empty when no limit applied: nothing was charged, so settling it does nothing.
    """

    id: str
    key_id: str
    tenant_id: str
    tokens: int
    day: str
    headers: dict[str, str]


# How a request larger than its key's tokens-per-minute limit can need fewer tokens, as its 429
# says: a completion's are its prompt's and max_tokens. Work without max_tokens (embeddings)
# passes its own: "Lower max_tokens" sent its callers looking for a field they do not have.
TEXT_ADVICE = "It counts the prompt and max_tokens: lower max_tokens or shorten the prompt."


class Limiter(Protocol):
    async def admit(
        self,
        key_id: str,
        tenant_id: str,
        spec: LimitSpec,
        reserve_tokens: int,
        advice: str = TEXT_ADVICE,
    ) -> Reservation: ...

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None: ...

    async def ping(self) -> None:
        """Raise if the shared store cannot be reached (readiness check)."""
        ...

    async def close(self) -> None: ...


def make_limiter(redis_url: str | None, daily_usage: DailyUsage | None = None) -> Limiter:
    """Redis when a URL is configured (several processes share limits), else in-process."""
    if redis_url:
        return RedisLimiter(redis_url, daily_usage)
    return InProcessLimiter(daily_usage)


def format_reset(ms: int) -> str:
    """A duration the way OpenAI's x-ratelimit-reset-* headers write it: 20ms, 1.5s, 6m0s."""
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    seconds = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    head = f"{hours}h" if hours else ""
    if hours or minutes:
        head += f"{minutes}m"
    return f"{head}{seconds}s"


def _utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def _retry_after(ms: float) -> str:
    return str(max(1, math.ceil(ms / 1000)))


def _check_amount(tokens: int) -> None:
    if tokens < 0:
        raise ValueError(f"token count must not be negative, got {tokens}")


def _limited(spec: LimitSpec) -> bool:
    return spec.rpm is not None or spec.tpm is not None or spec.daily_tokens is not None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A backend's decision. ``status``: ok, rpm, tpm, big (over tpm alone), day, seed.

    ``requests``/``tokens`` are the key's window totals (including this request when ok),
    ``reset_ms`` is when the window's oldest admission leaves it, ``retry_ms`` when a rejected
    request would fit, ``spent`` the tenant's tokens today before this request.
    """

    status: str
    requests: int = 0
    tokens: int = 0
    reset_ms: int = 0
    retry_ms: int = 0
    spent: int = 0


def _headers(spec: LimitSpec, outcome: _Outcome) -> dict[str, str]:
    headers: dict[str, str] = {}
    reset = format_reset(max(0, outcome.reset_ms))
    if spec.rpm is not None:
        headers["x-ratelimit-limit-requests"] = str(spec.rpm)
        headers["x-ratelimit-remaining-requests"] = str(max(0, spec.rpm - outcome.requests))
        headers["x-ratelimit-reset-requests"] = reset
    if spec.tpm is not None:
        headers["x-ratelimit-limit-tokens"] = str(spec.tpm)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, spec.tpm - outcome.tokens))
        headers["x-ratelimit-reset-tokens"] = reset
    return headers


def _conclude(
    outcome: _Outcome,
    spec: LimitSpec,
    rid: str,
    key_id: str,
    tenant_id: str,
    reserve: int,
    now: float,
    advice: str,
) -> Reservation:
    """Turn a decision into a reservation or the error the caller sees (429 either way);
    ``advice`` says how a request over the whole tokens-per-minute limit can need fewer."""
    headers = _headers(spec, outcome)
    if outcome.status == "ok":
        return Reservation(rid, key_id, tenant_id, reserve, _utc_day(now), headers)
    if outcome.status == "big":
        raise refused(
            RateLimited,
            "tpm_request_too_large",
            "Request too large for this API key's tokens-per-minute limit: it needs {tokens} "
            "tokens but the limit is {limit}. {advice}",
            headers=headers,
            tokens=reserve,
            limit=spec.tpm,
            advice=advice,
        )
    if outcome.status == "day":
        wait = _retry_after((_DAY_S - now % _DAY_S) * 1000)
        raise refused(
            QuotaExceeded,
            "daily_budget_exhausted",
            "Daily token budget exhausted for this tenant: budget {budget}, used {used}, this "
            "request needs {tokens}. It resets at 00:00 UTC (in {wait}s).",
            headers={**headers, "Retry-After": wait},
            budget=spec.daily_tokens,
            used=outcome.spent,
            tokens=reserve,
            wait=wait,
        )
    wait = _retry_after(outcome.retry_ms)
    if outcome.status == "rpm":
        raise refused(
            RateLimited,
            "rpm_reached",
            "Rate limit reached for requests per minute: limit {limit}, used {used} on this API "
            "key. Retry after {wait}s.",
            headers={**headers, "Retry-After": wait},
            limit=spec.rpm,
            used=outcome.requests,
            wait=wait,
        )
    raise refused(
        RateLimited,
        "tpm_reached",
        "Rate limit reached for tokens per minute: limit {limit}, used {used}, this request "
        "needs {tokens} on this API key. Retry after {wait}s.",
        headers={**headers, "Retry-After": wait},
        limit=spec.tpm,
        used=outcome.tokens,
        tokens=reserve,
        wait=wait,
    )


@dataclass(slots=True)
class _Entry:
    """One admission: in its key's window while ``windowed``, on the tenant's day if ``daily``."""

    ts: float
    tokens: int
    key_id: str
    tenant_id: str
    day: str
    windowed: bool
    daily: bool


@dataclass(slots=True)
class _Window:
    entries: deque[_Entry] = field(default_factory=deque)
    tokens: int = 0


class InProcessLimiter:
    """Limits for one server process: a lock around plain dicts and one deque per key."""

    def __init__(
        self,
        daily_usage: DailyUsage | None = None,
        *,
        clock: Callable[[], float] = time.time,
        window_s: float = 60.0,
    ) -> None:
        self._daily_usage = daily_usage
        self._clock = clock
        self._window = window_s
        self._lock = threading.Lock()  # the gateway may call from several threads
        self._windows: dict[str, _Window] = {}
        self._daily: dict[tuple[str, str], int] = {}
        self._pending: dict[str, _Entry] = {}
        self._seeding = SingleFlight()  # a burst of first requests seeds the day once
        self._next_sweep = 0.0

    async def admit(
        self,
        key_id: str,
        tenant_id: str,
        spec: LimitSpec,
        reserve_tokens: int,
        advice: str = TEXT_ADVICE,
    ) -> Reservation:
        """Charge the request against every limit in ``spec`` or raise without charging."""
        _check_amount(reserve_tokens)
        now = self._clock()
        day = _utc_day(now)
        if not _limited(spec):
            return Reservation("", key_id, tenant_id, reserve_tokens, day, {})
        rid = uuid.uuid4().hex
        while True:
            with self._lock:
                outcome = self._decide(now, rid, key_id, tenant_id, day, spec, reserve_tokens)
            if outcome.status != "seed":
                return _conclude(outcome, spec, rid, key_id, tenant_id, reserve_tokens, now, advice)
            await self._seeding.run((tenant_id, day), lambda: self._seed(tenant_id, day))

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Replace the reserved tokens with the real count; a second call changes nothing."""
        _check_amount(actual_tokens)
        with self._lock:
            entry = self._pending.pop(reservation.id, None)
            if entry is None:
                return
            delta = actual_tokens - entry.tokens
            entry.tokens = actual_tokens
            if entry.windowed:
                self._windows[entry.key_id].tokens += delta
            day_key = (entry.tenant_id, entry.day)
            if entry.daily and day_key in self._daily:
                self._daily[day_key] += delta

    async def ping(self) -> None:
        """Always reachable: the state is in this process."""

    async def close(self) -> None:
        """Nothing to release; present for the Limiter protocol."""

    async def _seed(self, tenant_id: str, day: str) -> None:
        """Load the tenant's usage for ``day`` from storage, outside the lock (it may be slow)."""
        assert self._daily_usage is not None
        with self._lock:
            if (tenant_id, day) in self._daily:
                return
        used = await asyncio.to_thread(self._daily_usage, tenant_id, day)
        with self._lock:
            self._daily.setdefault((tenant_id, day), int(used))

    def _decide(
        self,
        now: float,
        rid: str,
        key_id: str,
        tenant_id: str,
        day: str,
        spec: LimitSpec,
        reserve: int,
    ) -> _Outcome:
        """Check every limit, then record all or nothing. Caller holds the lock."""
        if now >= self._next_sweep:
            self._sweep(now)
        windowed = spec.rpm is not None or spec.tpm is not None
        window = self._windows.setdefault(key_id, _Window()) if windowed else _Window()
        self._purge(window, now)
        count, used = len(window.entries), window.tokens
        reset_ms = self._leaves_ms(window.entries[0] if window.entries else None, now)
        if spec.tpm is not None and reserve > spec.tpm:
            return _Outcome("big", count, used, reset_ms)
        if spec.rpm is not None and count >= spec.rpm:
            blocker = window.entries[count - spec.rpm] if spec.rpm > 0 else None
            return _Outcome("rpm", count, used, reset_ms, self._leaves_ms(blocker, now))
        if spec.tpm is not None and used + reserve > spec.tpm:
            need = used + reserve - spec.tpm
            retry_ms = self._leaves_ms(None, now)
            for entry in window.entries:
                need -= entry.tokens
                if need <= 0:
                    retry_ms = self._leaves_ms(entry, now)
                    break
            return _Outcome("tpm", count, used, reset_ms, retry_ms)
        spent = 0
        if spec.daily_tokens is not None:
            stored = self._daily.get((tenant_id, day))
            if stored is None and self._daily_usage is not None:
                return _Outcome("seed")
            spent = stored or 0
            if spent + reserve > spec.daily_tokens:
                return _Outcome("day", count, used, reset_ms, spent=spent)
            self._daily[(tenant_id, day)] = spent + reserve
        entry = _Entry(
            now, reserve, key_id, tenant_id, day, windowed, spec.daily_tokens is not None
        )
        if windowed:
            window.entries.append(entry)
            window.tokens += reserve
            count, used = count + 1, used + reserve
            reset_ms = self._leaves_ms(window.entries[0], now)
        self._pending[rid] = entry
        return _Outcome("ok", count, used, reset_ms, spent=spent)

    def _leaves_ms(self, entry: _Entry | None, now: float) -> int:
        """Milliseconds until ``entry`` leaves the window (a whole window when there is none)."""
        start = now if entry is None else entry.ts
        return math.ceil((start + self._window - now) * 1000)

    def _purge(self, window: _Window, now: float) -> None:
        horizon = now - self._window
        entries = window.entries
        while entries and entries[0].ts <= horizon:
            gone = entries.popleft()
            window.tokens -= gone.tokens
            gone.windowed = False

    def _sweep(self, now: float) -> None:
        """Once a window, drop idle keys, old days and abandoned reservations (bounded memory)."""
        self._next_sweep = now + self._window
        for key_id in list(self._windows):
            window = self._windows[key_id]
            self._purge(window, now)
            if not window.entries:
                del self._windows[key_id]
        yesterday = _utc_day(now - _DAY_S)
        for day_key in [k for k in self._daily if k[1] < yesterday]:
            del self._daily[day_key]
        abandoned = now - _RECORD_TTL_S
        for rid in [r for r, e in self._pending.items() if e.ts <= abandoned]:
            del self._pending[rid]


# KEYS: 1 window (sorted set: reservation id scored by admission ms), 2 tokens per id (hash),
#       3 the window's token sum, 4 the tenant's daily counter, 5 the reservation record.
# ARGV: 1 reservation id, 2 window ms, 3 rpm, 4 tpm, 5 daily budget (-1: unlimited),
#       6 tokens to reserve, 7 "1": answer 'seed' if the daily counter is missing, 8 record TTL s.
_ADMIT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, window = ARGV[1], tonumber(ARGV[2])
local rpm, tpm, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local reserve, ttl = tonumber(ARGV[6]), tonumber(ARGV[8])
local windowed = rpm >= 0 or tpm >= 0
local count, used, reset = 0, 0, window

local function leaves(index)
  local e = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
  if #e == 0 then return window end
  return tonumber(e[2]) + window - now
end

if windowed then
  while true do
    local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window, 'LIMIT', 0, 500)
    if #gone == 0 then break end
    local freed = 0
    for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(gone))) do
      freed = freed + (tonumber(v) or 0)
    end
    redis.call('ZREM', KEYS[1], unpack(gone))
    redis.call('HDEL', KEYS[2], unpack(gone))
    if freed ~= 0 then redis.call('DECRBY', KEYS[3], freed) end
  end
  count = redis.call('ZCARD', KEYS[1])
  used = tonumber(redis.call('GET', KEYS[3]) or '0')
  reset = leaves(0)
  if tpm >= 0 and reserve > tpm then return {'big', count, used, reset, 0, 0} end
  if rpm >= 0 and count >= rpm then
    return {'rpm', count, used, reset, leaves(count - rpm), 0}
  end
  if tpm >= 0 and used + reserve > tpm then
    local need, start, retry = used + reserve - tpm, 0, window
    while need > 0 do
      local batch = redis.call('ZRANGE', KEYS[1], start, start + 99, 'WITHSCORES')
      if #batch == 0 then break end
      local ids = {}
      for i = 1, #batch, 2 do ids[#ids + 1] = batch[i] end
      local toks = redis.call('HMGET', KEYS[2], unpack(ids))
      for i = 1, #ids do
        need = need - (tonumber(toks[i]) or 0)
        if need <= 0 then retry = tonumber(batch[2 * i]) + window - now break end
      end
      start = start + #ids
    end
    return {'tpm', count, used, reset, retry, 0}
  end
end

local spent = 0
if budget >= 0 then
  local v = redis.call('GET', KEYS[4])
  if not v and ARGV[7] == '1' then return {'seed', 0, 0, 0, 0, 0} end
  spent = tonumber(v or '0')
  if spent + reserve > budget then return {'day', count, used, reset, 0, spent} end
  redis.call('INCRBY', KEYS[4], reserve)
  redis.call('EXPIRE', KEYS[4], ttl)
end

if windowed then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('HSET', KEYS[2], id, reserve)
  redis.call('INCRBY', KEYS[3], reserve)
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], window + 1000) end
  count, used, reset = count + 1, used + reserve, leaves(0)
end
redis.call('HSET', KEYS[5], 't', reserve, 'd', budget >= 0 and 1 or 0)
redis.call('EXPIRE', KEYS[5], ttl)
return {'ok', count, used, reset, 0, spent}
"""

# KEYS: 1 tokens per id (hash), 2 the window's token sum, 3 the reservation record,
#       4 the tenant's daily counter. ARGV: 1 reservation id, 2 actual tokens.
# The record is deleted on the first settle, which makes a second one a no-op. A reservation
# that already left the window only corrects the daily counter.
_SETTLE_LUA = """
local rec = redis.call('HMGET', KEYS[3], 't', 'd')
if not rec[1] then return 0 end
redis.call('DEL', KEYS[3])
local actual = tonumber(ARGV[2])
local delta = actual - tonumber(rec[1])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], actual)
  redis.call('INCRBY', KEYS[2], delta)
end
if rec[2] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('INCRBY', KEYS[4], delta)
end
return 1
"""


def _window_keys(key_id: str) -> list[str]:
    base = f"{_PREFIX}k:{key_id}:"
    return [base + "w", base + "t", base + "s"]


def _daily_key(tenant_id: str, day: str) -> str:
    return f"{_PREFIX}d:{tenant_id}:{day}"


def _record_key(rid: str) -> str:
    return f"{_PREFIX}r:{rid}"


class RedisLimiter:
    """Limits shared by every process using one Redis; each decision is one atomic script.

    Windows use the Redis server's clock so processes agree; ``clock`` only picks the UTC day.
    """

    def __init__(
        self,
        url: str,
        daily_usage: DailyUsage | None = None,
        *,
        clock: Callable[[], float] = time.time,
        window_s: float = 60.0,
    ) -> None:
        # A burst waits for a free connection instead of failing with MaxConnectionsError.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=_REDIS_CONNECTIONS, timeout=10, decode_responses=True
        )
        self._redis = Redis.from_pool(pool)
        self._admit_script = self._redis.register_script(_ADMIT_LUA)
        self._settle_script = self._redis.register_script(_SETTLE_LUA)
        self._daily_usage = daily_usage
        self._clock = clock
        self._window_ms = round(window_s * 1000)
        self._seeding = SingleFlight()  # a burst of first requests seeds the day once

    async def admit(
        self,
        key_id: str,
        tenant_id: str,
        spec: LimitSpec,
        reserve_tokens: int,
        advice: str = TEXT_ADVICE,
    ) -> Reservation:
        """Charge the request against every limit in ``spec`` or raise without charging."""
        _check_amount(reserve_tokens)
        now = self._clock()
        day = _utc_day(now)
        if not _limited(spec):
            return Reservation("", key_id, tenant_id, reserve_tokens, day, {})
        rid = uuid.uuid4().hex
        daily_key = _daily_key(tenant_id, day)
        keys = [*_window_keys(key_id), daily_key, _record_key(rid)]
        args: list[str | int] = [
            rid,
            self._window_ms,
            -1 if spec.rpm is None else spec.rpm,
            -1 if spec.tpm is None else spec.tpm,
            -1 if spec.daily_tokens is None else spec.daily_tokens,
            reserve_tokens,
            1 if self._daily_usage is not None else 0,
            _RECORD_TTL_S,
        ]
        try:
            while True:
                status, *numbers = await self._admit_script(keys=keys, args=args)
                if status != "seed":
                    break
                await self._seeding.run(
                    (tenant_id, day), lambda: self._seed(daily_key, tenant_id, day)
                )
        except _REDIS_DOWN as exc:
            # Closed, not open: a limited key is never admitted unchecked. A 503 the client
            # retries, not a 500 on every request while Redis restarts.
            log.warning("limits: Redis unreachable (%s); refusing limited keys", type(exc).__name__)
            raise refused(
                Overloaded,
                "limits_unavailable",
                "Rate limits cannot be checked right now (their store does not answer); "
                "retry shortly",
                code="limits_unavailable",
                headers={"Retry-After": str(_REDIS_RETRY_AFTER_S)},
            ) from None
        outcome = _Outcome(status, *(int(n) for n in numbers))
        return _conclude(outcome, spec, rid, key_id, tenant_id, reserve_tokens, now, advice)

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Replace the reserved tokens with the real count; a second call changes nothing."""
        _check_amount(actual_tokens)
        if not reservation.id:
            return
        _, tokens_key, sum_key = _window_keys(reservation.key_id)
        keys = [
            tokens_key,
            sum_key,
            _record_key(reservation.id),
            _daily_key(reservation.tenant_id, reservation.day),
        ]
        try:
            await self._settle_script(keys=keys, args=[reservation.id, actual_tokens])
        except _REDIS_DOWN as exc:
            # The work is done and answered: a lost settlement leaves the reservation charged
            # (the most it could cost) until its window slides past; never fail the answer.
            log.warning(
                "limits: Redis unreachable (%s); reservation left as charged", type(exc).__name__
            )

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    async def _seed(self, daily_key: str, tenant_id: str, day: str) -> None:
        """First sight of a tenant's day in this Redis: start from storage, not from zero."""
        assert self._daily_usage is not None
        if await self._redis.exists(daily_key):
            return
        used = await asyncio.to_thread(self._daily_usage, tenant_id, day)
        await self._redis.set(daily_key, int(used), nx=True, ex=_RECORD_TTL_S)
