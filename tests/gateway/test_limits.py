"""Rate limits and budgets: exact under concurrency, the same on both backends."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis

from aigc.errors import QuotaExceeded, RateLimited
from aigc.gateway.limits import (
    DailyUsage,
    InProcessLimiter,
    Limiter,
    LimitSpec,
    RedisLimiter,
    Reservation,
    format_reset,
    make_limiter,
)

START = 1_900_000_000.0  # 2030-03-17 17:46:40 UTC
TO_MIDNIGHT = 86_400 - int(START % 86_400)
RESET = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$")

pytestmark = pytest.mark.anyio


class FakeClock:
    """Wall time the tests move by hand instead of sleeping."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """Builds limiters of one backend; closes them after the test."""

    backend: str
    redis_url: str | None
    clock: FakeClock = field(default_factory=FakeClock)
    made: list[Limiter] = field(default_factory=list)

    def make(self, daily_usage: DailyUsage | None = None, window_s: float = 60.0) -> Limiter:
        limiter: Limiter
        if self.redis_url is None:
            limiter = InProcessLimiter(daily_usage, clock=self.clock, window_s=window_s)
        else:
            limiter = RedisLimiter(self.redis_url, daily_usage, clock=self.clock, window_s=window_s)
        self.made.append(limiter)
        return limiter

    async def pass_window(self, window_s: float) -> None:
        """Let a whole window go by: the fake clock in-process, real time on Redis."""
        if self.redis_url is None:
            self.clock.now += window_s
        else:
            await asyncio.sleep(window_s + 0.15)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    url = None if request.param == "memory" else str(request.getfixturevalue("redis_url"))
    h = Harness(request.param, url)
    yield h
    for limiter in h.made:
        await limiter.close()


async def admit_many(
    calls: list[tuple[Limiter, LimitSpec, int]], key: str = "k1", tenant: str = "t1"
) -> tuple[list[Reservation], list[Exception]]:
    """Run every admission at once; split the results into admitted and rejected."""
    results = await asyncio.gather(
        *(lim.admit(key, tenant, spec, n) for lim, spec, n in calls), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, Reservation)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(ok) + len(errors) == len(calls)
    return ok, errors


async def test_concurrent_requests_per_minute_exact(harness: Harness) -> None:
    lim = harness.make()
    spec = LimitSpec(rpm=50)
    ok, errors = await admit_many([(lim, spec, 10)] * 200)
    assert len(ok) == 50
    assert len(errors) == 150
    for err in errors:
        assert type(err) is RateLimited
        assert err.status == 429
        assert 1 <= int(err.headers["Retry-After"]) <= 60
        assert "requests per minute" in err.message
        assert err.headers["x-ratelimit-remaining-requests"] == "0"


async def test_concurrent_tokens_per_minute_exact(harness: Harness) -> None:
    lim = harness.make()
    spec = LimitSpec(tpm=1000)
    ok, errors = await admit_many([(lim, spec, 90)] * 100)
    assert len(ok) == 11  # 990 reserved, 10 left
    assert all(type(e) is RateLimited and "tokens per minute" in e.message for e in errors)
    assert all(int(e.headers["Retry-After"]) >= 1 for e in errors)
    # Two requests finished with no output at all: 180 tokens come back, exactly two more fit.
    await lim.settle(ok[0], 0)
    await lim.settle(ok[1], 0)
    more, rejected = await admit_many([(lim, spec, 90)] * 10)
    assert len(more) == 2
    assert len(rejected) == 8
    probe = await lim.admit("k1", "t1", spec, 0)
    assert probe.headers["x-ratelimit-remaining-tokens"] == "10"


async def test_settle_refund_overcharge_and_idempotence(harness: Harness) -> None:
    lim = harness.make()
    spec = LimitSpec(tpm=1000)
    r1 = await lim.admit("k1", "t1", spec, 100)
    assert r1.headers["x-ratelimit-remaining-tokens"] == "900"
    await lim.settle(r1, 40)
    await lim.settle(r1, 40)
    await lim.settle(r1, 999)  # already settled: ignored
    r2 = await lim.admit("k1", "t1", spec, 0)
    assert r2.headers["x-ratelimit-remaining-tokens"] == "960"
    await lim.settle(r2, 300)  # the answer ran longer than reserved: charge the extra
    r3 = await lim.admit("k1", "t1", spec, 0)
    assert r3.headers["x-ratelimit-remaining-tokens"] == "660"
    await lim.settle(r3, 0)
    await lim.settle(r3, 0)
    r4 = await lim.admit("k1", "t1", spec, 660)  # exactly what is left
    assert r4.headers["x-ratelimit-remaining-tokens"] == "0"
    with pytest.raises(RateLimited):
        await lim.admit("k1", "t1", spec, 1)


async def test_settle_corrects_daily_budget(harness: Harness) -> None:
    lim = harness.make()
    spec = LimitSpec(daily_tokens=1000)
    r1 = await lim.admit("k1", "t1", spec, 600)
    await lim.settle(r1, 100)
    await lim.settle(r1, 100)
    r2 = await lim.admit("k2", "t1", spec, 900)  # another key, same tenant: 100 + 900
    with pytest.raises(QuotaExceeded):
        await lim.admit("k1", "t1", spec, 1)
    await lim.settle(r2, 950)  # overcharge: the tenant is now over budget
    with pytest.raises(QuotaExceeded):
        await lim.admit("k1", "t1", spec, 0)


async def test_sliding_window_frees_entries(harness: Harness) -> None:
    window = 60.0 if harness.backend == "memory" else 1.0
    lim = harness.make(window_s=window)
    spec = LimitSpec(rpm=2, tpm=100)
    await lim.admit("k1", "t1", spec, 60)
    await lim.admit("k1", "t1", spec, 40)
    with pytest.raises(RateLimited):
        await lim.admit("k1", "t1", spec, 0)
    await harness.pass_window(window)
    r = await lim.admit("k1", "t1", spec, 100)
    assert r.headers["x-ratelimit-remaining-requests"] == "1"
    assert r.headers["x-ratelimit-remaining-tokens"] == "0"


async def test_window_slides_rather_than_resetting() -> None:
    clock = FakeClock()
    lim = InProcessLimiter(clock=clock)
    spec = LimitSpec(rpm=2, tpm=100)
    first = await lim.admit("k1", "t1", spec, 70)
    assert first.headers["x-ratelimit-reset-requests"] == "1m0s"
    clock.now += 30
    second = await lim.admit("k1", "t1", spec, 30)
    assert second.headers["x-ratelimit-reset-tokens"] == "30s"  # when the first one leaves
    with pytest.raises(RateLimited) as exc:
        await lim.admit("k1", "t1", spec, 0)
    assert exc.value.headers["Retry-After"] == "30"
    clock.now += 29.999
    with pytest.raises(RateLimited):
        await lim.admit("k1", "t1", spec, 0)
    clock.now += 0.001  # exactly 60 s after the first: it leaves, the second stays
    third = await lim.admit("k1", "t1", spec, 70)
    assert third.headers["x-ratelimit-remaining-requests"] == "0"
    assert third.headers["x-ratelimit-remaining-tokens"] == "0"
    clock.now += 1
    tokens_only = LimitSpec(tpm=100)
    with pytest.raises(RateLimited) as exc:
        await lim.admit("k1", "t1", tokens_only, 20)
    assert exc.value.headers["Retry-After"] == "29"  # the 30 admitted at +30 s frees enough
    with pytest.raises(RateLimited) as exc:
        await lim.admit("k1", "t1", tokens_only, 50)
    assert exc.value.headers["Retry-After"] == "59"  # the 70 admitted 1 s ago must leave too


async def test_tokens_retry_after_counts_enough_departures() -> None:
    clock = FakeClock()
    lim = InProcessLimiter(clock=clock)
    spec = LimitSpec(tpm=100)
    await lim.admit("k1", "t1", spec, 10)
    clock.now += 10
    await lim.admit("k1", "t1", spec, 10)
    clock.now += 10
    await lim.admit("k1", "t1", spec, 80)
    with pytest.raises(RateLimited) as exc:
        await lim.admit("k1", "t1", spec, 15)  # needs both tens gone: the second at +70 s
    assert exc.value.headers["Retry-After"] == "50"


async def test_daily_budget(harness: Harness) -> None:
    lim = harness.make()
    spec = LimitSpec(daily_tokens=1000)
    await lim.admit("k1", "t1", spec, 600)
    with pytest.raises(QuotaExceeded) as exc:
        await lim.admit("k2", "t1", spec, 500)
    err = exc.value
    assert err.status == 429
    assert err.code == "insufficient_quota"
    assert "budget 1000" in err.message
    assert "used 600" in err.message
    assert err.headers["Retry-After"] == str(TO_MIDNIGHT)
    await lim.admit("k1", "t2", spec, 1000)  # another tenant has its own budget
    harness.clock.now += 86_400  # a new UTC day: a fresh budget
    r = await lim.admit("k2", "t1", spec, 1000)
    assert r.day == "2030-03-18"


async def test_daily_usage_seeds_the_counter_once(harness: Harness) -> None:
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def daily_usage(tenant: str, day: str) -> int:
        with lock:
            calls.append((tenant, day))
        return 900 if day == "2030-03-17" else 0

    lim = harness.make(daily_usage)
    spec = LimitSpec(daily_tokens=1000)
    ok, errors = await admit_many([(lim, spec, 10)] * 30)
    assert len(ok) == 10  # 900 already used today, according to the database
    assert all(type(e) is QuotaExceeded for e in errors)
    assert calls == [("t1", "2030-03-17")]
    await lim.admit("k1", "t1", LimitSpec(), 5)  # unlimited: no seeding needed
    assert len(calls) == 1
    harness.clock.now += 86_400
    await lim.admit("k1", "t1", spec, 1000)
    assert calls == [("t1", "2030-03-17"), ("t1", "2030-03-18")]


async def test_request_larger_than_tpm_never_passes(harness: Harness) -> None:
    lim = harness.make()
    spec = LimitSpec(tpm=100)
    with pytest.raises(RateLimited) as exc:
        await lim.admit("k1", "t1", spec, 101)
    assert exc.value.status == 429
    assert "too large" in exc.value.message
    assert "Retry-After" not in exc.value.headers  # waiting would not help
    r = await lim.admit("k1", "t1", spec, 100)  # nothing was recorded for the rejected one
    assert r.headers["x-ratelimit-remaining-tokens"] == "0"


async def test_rejection_records_nothing(harness: Harness) -> None:
    lim = harness.make()
    spec = LimitSpec(rpm=2, tpm=100, daily_tokens=150)
    await lim.admit("k1", "t1", spec, 90)
    with pytest.raises(RateLimited):
        await lim.admit("k1", "t1", spec, 20)  # tokens fail: the request must not count
    r = await lim.admit("k1", "t1", spec, 10)
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(RateLimited):
        await lim.admit("k1", "t1", spec, 0)
    other = LimitSpec(rpm=5, daily_tokens=150)
    with pytest.raises(QuotaExceeded):
        await lim.admit("k2", "t1", other, 51)  # budget fails: the window must not count
    r = await lim.admit("k2", "t1", other, 50)
    assert r.headers["x-ratelimit-remaining-requests"] == "4"


async def test_headers(harness: Harness) -> None:
    lim = harness.make()
    both = LimitSpec(rpm=10, tpm=1000)
    r1 = await lim.admit("k1", "t1", both, 100)
    r2 = await lim.admit("k1", "t1", both, 100)
    assert set(r1.headers) == {
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    }
    assert r1.headers["x-ratelimit-limit-requests"] == "10"
    assert r1.headers["x-ratelimit-limit-tokens"] == "1000"
    assert r1.headers["x-ratelimit-remaining-requests"] == "9"
    assert r2.headers["x-ratelimit-remaining-requests"] == "8"
    assert r1.headers["x-ratelimit-remaining-tokens"] == "900"
    assert r2.headers["x-ratelimit-remaining-tokens"] == "800"
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        assert RESET.match(r2.headers[name]), r2.headers[name]
    rpm_only = await lim.admit("k2", "t1", LimitSpec(rpm=3), 100)
    assert set(rpm_only.headers) == {
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    }
    tpm_only = await lim.admit("k3", "t1", LimitSpec(tpm=300), 100)
    assert set(tpm_only.headers) == {
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    }
    assert (await lim.admit("k4", "t1", LimitSpec(daily_tokens=500), 100)).headers == {}
    free = await lim.admit("k5", "t1", LimitSpec(), 100)
    assert free.headers == {}
    await lim.settle(free, 10)  # nothing was charged: settling is a no-op


async def test_negative_token_counts_are_rejected(harness: Harness) -> None:
    lim = harness.make()
    with pytest.raises(ValueError):
        await lim.admit("k1", "t1", LimitSpec(tpm=10), -1)
    r = await lim.admit("k1", "t1", LimitSpec(tpm=10), 1)
    with pytest.raises(ValueError):
        await lim.settle(r, -1)


async def test_idle_keys_are_pruned() -> None:
    clock = FakeClock()
    lim = InProcessLimiter(clock=clock)
    spec = LimitSpec(rpm=5, daily_tokens=10_000)
    await asyncio.gather(*(lim.admit(f"k{i}", f"t{i}", spec, 1) for i in range(1000)))
    clock.now += 3 * 86_400  # abandoned (never settled) reservations go too
    await lim.admit("fresh", "t1", spec, 1)
    assert list(lim._windows) == ["fresh"]
    assert list(lim._daily) == [("t1", "2030-03-20")]
    assert len(lim._pending) == 1


@pytest.mark.redis
async def test_two_redis_limiters_share_one_limit(redis_url: str) -> None:
    a = RedisLimiter(redis_url)
    b = RedisLimiter(redis_url)
    try:
        spec = LimitSpec(rpm=30)
        ok, errors = await admit_many([(a, spec, 1), (b, spec, 1)] * 50)
        assert len(ok) == 30
        assert len(errors) == 70
        assert all(type(e) is RateLimited for e in errors)
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis
async def test_redis_keys_all_expire(redis_url: str) -> None:
    lim = RedisLimiter(redis_url, lambda tenant, day: 5)
    try:
        spec = LimitSpec(rpm=10, tpm=1000, daily_tokens=1000)
        await lim.admit("k1", "t1", spec, 10)
        unsettled = await lim.admit("k1", "t1", spec, 10)
        assert unsettled.id
        await lim.settle(await lim.admit("k1", "t1", spec, 10), 3)
    finally:
        await lim.close()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.keys("*")
        assert keys
        for key in keys:
            assert key.startswith(b"aigc:rl:")
            assert client.ttl(key) > 0, key
        assert int(client.get("aigc:rl:d:t1:" + unsettled.day) or 0) == 5 + 10 + 10 + 3
    finally:
        client.close()


async def test_make_limiter_picks_the_backend() -> None:
    memory = make_limiter(None)
    shared = make_limiter("redis://127.0.0.1:1/0")  # connects lazily: no server needed here
    assert isinstance(memory, InProcessLimiter)
    assert isinstance(shared, RedisLimiter)
    await memory.close()
    await shared.close()


def test_in_process_limit_holds_across_threads() -> None:
    """The gateway may admit from several threads, each with its own event loop."""
    lim = InProcessLimiter()
    spec = LimitSpec(rpm=40, tpm=10_000)
    admitted: list[int] = []

    def worker() -> None:
        ok, _ = asyncio.run(admit_many([(lim, spec, 100)] * 25))
        admitted.append(len(ok))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 40


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0ms"),
        (20, "20ms"),
        (1000, "1s"),
        (1500, "1.5s"),
        (60_000, "1m0s"),
        (360_000, "6m0s"),
        (3_723_400, "1h2m3.4s"),
    ],
)
def test_format_reset(ms: int, text: str) -> None:
    assert format_reset(ms) == text
