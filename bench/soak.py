"""Streaming soak: many concurrent streams, then as many clients that hang up mid-stream.

One real ``aigc serve`` process on a loopback port (its own data directory) and one asyncio
client (aiohttp: a C HTTP parser, so the client takes as little of the shared cores as it can):

* **phase 1**: ``--streams`` (1,000) streaming chat completions started at once, each read to
  ``data: [DONE]``: errors by kind, time to first token and total latency (p50/p99), the peak
  of ``aigc_active_streams`` (are they really all in progress together?);
* **phase 2**: as many clients, each reads a random number of tokens (1 to half the answer)
  and then closes its connection: errors, and then whether the server is healthy again: a
  normal stream on the same key answers in full (not 429), ``aigc_active_streams`` is back to
  0, the model's concurrency gate has no place held, no file descriptor is left open, no 5xx
  and no error in the server's log.

Throughout: the server's RSS (``/proc/PID/status`` VmRSS) at the start, after warm-up, its
peak during each phase, after each phase and after ``--settle-s`` seconds of rest; open file
descriptors; the event-loop lag (``aigc_event_loop_lag_seconds`` from /metrics, the histogram's
growth over each phase and over the rest after it) and how long a /metrics request took while
the streams ran. Targets: RSS growth under 100 MB, back within 50 MB of the start at the end.

The model is a template (``template-soak``, registered by the script): it answers every
question with the same ``--tokens`` words ("w0 w1 …"), ``--pace-ms`` apart. A template costs
microseconds per token, so what is measured is the gateway's streaming (auth, limits, guard,
SSE, metrics, audit, disconnects), not a model; the pace keeps each stream open for seconds so
the streams really overlap (an unpaced template writes a whole answer in one go). The key has
rpm/tpm limits set (high: the limiter runs on every request but never refuses) and the model a
concurrency gate wider than the soak (its places are taken and released, nobody waits): what is
measured is not a limit.

    python bench/soak.py            # 1,000 + 1,000 streams (a few minutes on 2 cores)
    python bench/soak.py --quick    # 100 + 100
    python bench/soak.py --streams 500 --tokens 300 --pace-ms 20

Results: ``bench/results/soak.json`` (``--quick`` or other sizes: ``soak-partial.json``, not kept
in git). A benchmark: it reports, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.e2e.server, bench.benchlib

from bench.benchlib import (  # noqa: E402
    bucket_quantile,
    cpu_seconds,
    fd_limit,
    histogram_buckets,
    machine,
    metric_samples,
    metric_sum,
    open_fds,
    percentile,
    rss_mb,
    threads,
)
from tests.e2e.server import Server, make_org, new_admin_key  # noqa: E402

RESULTS = HERE / "results" / "soak.json"
PARTIAL_RESULTS = HERE / "results" / "soak-partial.json"
MODEL = "template-soak"
ROUTE = "/v1/chat/completions"
# High enough never to refuse; set so the limiter admits and settles every request.
KEY_LIMITS = {"rpm_limit": 10_000_000, "tpm_limit": 2_000_000_000}
TARGET_GROWTH_MB = 100.0
TARGET_BACK_MB = 50.0
LAG = "aigc_event_loop_lag_seconds"


def template_yaml(tokens: int, pace_ms: float) -> str:
    """Every question answered with the same ``tokens`` words, ``pace_ms`` apart."""
    words = " ".join(f"w{i}" for i in range(tokens))
    return (
        f"name: soak\nlanguages: [en]\npace_ms: {pace_ms}\n"
        "intents:\n  - id: any\n    patterns: ['.']\n    answers:\n      en: ['{text}']\n"
        f"slots:\n  text: '{words}'\n"
        "fallback: {en: ['?']}\n"
    )


# --- one stream --------------------------------------------------------------------------------


@dataclass
class Stream:
    """What the client saw of one stream (times in seconds from the phase's start)."""

    started: float
    error: str | None = None
    response_start: float | None = None  # status and headers received
    first_token: float | None = None
    ended: float | None = None
    tokens: int = 0  # content events received
    completion_tokens: int | None = None  # what the usage chunk reported


async def stream_once(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: bytes,
    t0: float,
    hang_up_after: int | None = None,
) -> Stream:
    """One streaming request; read to [DONE], or close the connection after ``hang_up_after``
    content events (a client that goes away mid-stream)."""
    s = Stream(started=time.perf_counter() - t0)
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            s.response_start = time.perf_counter() - t0
            if resp.status != 200:
                s.error = f"HTTP {resp.status}"
                await resp.read()
                return s
            last = b""
            done = False
            async for line in resp.content:
                if not line.startswith(b"data: "):
                    continue
                if line.startswith(b"data: [DONE]"):
                    done = True
                    break
                if b'"content": "' in line and b'"content": ""' not in line:
                    s.tokens += 1
                    if s.first_token is None:
                        s.first_token = time.perf_counter() - t0
                    if hang_up_after is not None and s.tokens >= hang_up_after:
                        resp.close()  # drop the connection, as a closed tab or a killed client
                        s.ended = time.perf_counter() - t0
                        return s
                last = line
            s.ended = time.perf_counter() - t0
            if not done:
                s.error = "stream ended without [DONE]"
            else:
                usage = json.loads(last[len(b"data: ") :]).get("usage") or {}
                s.completion_tokens = usage.get("completion_tokens")
    except TimeoutError:
        s.error = "timeout"
    except aiohttp.ClientError as exc:
        s.error = f"{type(exc).__name__}"
    except OSError as exc:
        s.error = f"{type(exc).__name__}: {exc.strerror}"
    return s


# --- watching the server -----------------------------------------------------------------------


@dataclass
class Watch:
    """The server process sampled while a phase runs: RSS and fds from /proc (a thread, every
    0.2 s), /metrics from the client's event loop (every second)."""

    pid: int
    base_url: str
    peak_rss_mb: float = 0.0
    peak_fds: int = 0
    peak_threads: int = 0
    peak_active_streams: float = 0.0
    metrics_ms: list[float] = field(default_factory=list)
    # (seconds into the phase, the longest event-loop lag since the previous scrape, as the
    # upper bound of its bucket): when in the phase the loop was held.
    lag_timeline: list[tuple[float, float | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _t0: float = field(default_factory=time.perf_counter)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_rss_mb = max(self.peak_rss_mb, rss_mb(self.pid) or 0.0)
            self.peak_fds = max(self.peak_fds, open_fds(self.pid) or 0)
            self.peak_threads = max(self.peak_threads, threads(self.pid) or 0)

    async def _scrape(self, session: aiohttp.ClientSession) -> None:
        previous = histogram_buckets(await scrape(session, self.base_url), LAG)
        while not self._stop.is_set():
            await asyncio.sleep(1.0)
            t = time.perf_counter()
            async with session.get(f"{self.base_url}/metrics") as resp:
                text = await resp.text()
            self.metrics_ms.append((time.perf_counter() - t) * 1000)
            samples = metric_samples(text)
            active = metric_sum(samples, "aigc_active_streams")
            self.peak_active_streams = max(self.peak_active_streams, active)
            buckets = histogram_buckets(samples, LAG)
            grown = {le: n - previous.get(le, 0.0) for le, n in buckets.items()}
            self.lag_timeline.append((t - self._t0, bucket_quantile(grown, 1.0)))
            previous = buckets

    def max_lag_ms(self, start: float, end: float) -> float | None:
        """The longest lag (bucket bound, ms) seen by scrapes between ``start`` and ``end`` s."""
        seen = [lag for t, lag in self.lag_timeline if start <= t < end and lag is not None]
        return max(seen) * 1000 if seen else None

    @contextlib.asynccontextmanager
    async def running(self, session: aiohttp.ClientSession) -> Any:
        self._t0 = time.perf_counter()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        scraper = asyncio.create_task(self._scrape(session))
        try:
            yield self
        finally:
            self._stop.set()
            scraper.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await scraper
            sampler.join()

    def summary(self) -> dict[str, Any]:
        return {
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_open_fds": self.peak_fds,
            "peak_threads": self.peak_threads,
            "peak_active_streams": int(self.peak_active_streams),
            "metrics_requests": len(self.metrics_ms),
            "metrics_p50_ms": _ms(percentile(self.metrics_ms, 50)),
            "metrics_max_ms": _ms(max(self.metrics_ms, default=float("nan"))),
        }


def _ms(x: float | None) -> float | None:
    return None if x is None or x != x else round(x, 1)


async def scrape(session: aiohttp.ClientSession, base_url: str) -> dict[Any, float]:
    async with session.get(f"{base_url}/metrics") as resp:
        return metric_samples(await resp.text())


def lag_between(before: dict[Any, float], after: dict[Any, float]) -> dict[str, Any]:
    """The event-loop lag observed between two scrapes: count, mean, p50/p99 and max as
    bucket upper bounds (ms)."""
    b0, b1 = histogram_buckets(before, LAG), histogram_buckets(after, LAG)
    delta = {le: b1.get(le, 0.0) - b0.get(le, 0.0) for le in b1}
    count = metric_sum(after, f"{LAG}_count") - metric_sum(before, f"{LAG}_count")
    total = metric_sum(after, f"{LAG}_sum") - metric_sum(before, f"{LAG}_sum")

    def ms(q: float) -> float | None:
        le = bucket_quantile(delta, q)
        return None if le is None else le * 1000

    return {
        "observations": int(count),
        "mean_ms": round(total / count * 1000, 2) if count else None,
        "p50_le_ms": ms(0.5),
        "p99_le_ms": ms(0.99),
        "max_le_ms": ms(1.0),
    }


def responses_by_status(before: dict[Any, float], after: dict[Any, float]) -> dict[str, int]:
    """aigc_requests_total of the chat route between two scrapes, by status."""
    out: Counter[str] = Counter()
    for (name, labels), value in after.items():
        lab = dict(labels)
        if name == "aigc_requests_total" and lab.get("route") == ROUTE:
            grown = value - before.get((name, labels), 0.0)
            if grown:
                out[lab["status"]] += int(grown)
    return dict(out)


# --- phases ------------------------------------------------------------------------------------


def stream_stats(streams: list[Stream], wall: float, expected_tokens: int) -> dict[str, Any]:
    """Errors by kind, TTFT and total latency (p50/p99, ms), and how many overlapped."""
    ok = [s for s in streams if s.error is None]
    ttft = [(s.first_token - s.started) * 1000 for s in ok if s.first_token is not None]
    start = [(s.response_start - s.started) * 1000 for s in ok if s.response_start is not None]
    total = [(s.ended - s.started) * 1000 for s in ok if s.ended is not None]
    errors = Counter(s.error for s in streams if s.error is not None)
    short = [s for s in ok if s.completion_tokens not in (None, expected_tokens)]
    if short:
        errors["usage differs from the answer"] = len(short)
    # Streams open at once, as the client saw them: the most intervals covering one instant.
    edges = sorted(
        [(s.started, 1) for s in streams if s.ended is not None]
        + [(s.ended, -1) for s in streams if s.ended is not None]
    )
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    tokens = sum(s.tokens for s in streams)
    return {
        "streams": len(streams),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "response_start_p50_ms": _ms(percentile(start, 50)),
        "response_start_p99_ms": _ms(percentile(start, 99)),
        "ttft_p50_ms": _ms(percentile(ttft, 50)),
        "ttft_p99_ms": _ms(percentile(ttft, 99)),
        "total_p50_ms": _ms(percentile(total, 50)),
        "total_p99_ms": _ms(percentile(total, 99)),
        "wall_s": round(wall, 2),
        "tokens_received": tokens,
        "tokens_per_s": round(tokens / wall, 1) if wall else None,
        "client_peak_open_streams": peak,
    }


def lag_by_stage(watch: Watch, streams: list[Stream]) -> dict[str, Any]:
    """The longest event-loop lag (ms, bucket bound) while the burst was being admitted (until
    the last response started, plus the scrape after it) and afterwards, while only streaming;
    and the whole timeline (one point per /metrics scrape)."""
    starts = [s.response_start for s in streams if s.response_start is not None]
    last = max(starts, default=0.0)
    # The first scrape after the last response started still covers admission time.
    after = [t for t, _ in watch.lag_timeline if t >= last]
    admitted = after[0] if after else float("inf")
    return {
        "admitting_max_le_ms": watch.max_lag_ms(0.0, admitted + 0.001),
        "streaming_max_le_ms": watch.max_lag_ms(admitted + 0.001, float("inf")),
        "timeline_s_ms": [
            (round(t, 1), None if lag is None else lag * 1000) for t, lag in watch.lag_timeline
        ],
    }


async def run_phase(
    session: aiohttp.ClientSession,
    server: Server,
    headers: dict[str, str],
    body: bytes,
    count: int,
    hang_up: list[int] | None,
) -> tuple[list[Stream], float]:
    """``count`` streams started together; with ``hang_up``, stream i closes after hang_up[i]
    tokens."""
    url = f"{server.base_url}{ROUTE}"
    t0 = time.perf_counter()
    streams = await asyncio.gather(
        *(
            stream_once(session, url, headers, body, t0, None if hang_up is None else hang_up[i])
            for i in range(count)
        )
    )
    return list(streams), time.perf_counter() - t0


async def wait_for_idle(
    session: aiohttp.ClientSession, server: Server, key: str, timeout: float = 30.0
) -> dict[str, Any]:
    """After the hang-ups: how long until no stream is counted active and the model's gate
    holds no place (None: not within ``timeout``)."""
    t0 = time.perf_counter()
    streams_idle: float | None = None
    gate_idle: float | None = None
    gate: dict[str, Any] = {}
    active = -1.0
    auth = {"Authorization": f"Bearer {key}"}
    while time.perf_counter() - t0 < timeout and (streams_idle is None or gate_idle is None):
        samples = await scrape(session, server.base_url)
        active = metric_sum(samples, "aigc_active_streams")
        if streams_idle is None and active == 0:
            streams_idle = time.perf_counter() - t0
        async with session.get(
            f"{server.base_url}/api/models/{MODEL}/status", headers=auth
        ) as resp:
            gate = (await resp.json()).get("concurrency") or {}
        if gate_idle is None and gate.get("active") == 0 and gate.get("waiting") == 0:
            gate_idle = time.perf_counter() - t0
        await asyncio.sleep(0.2)
    return {
        "active_streams_zero_after_s": None if streams_idle is None else round(streams_idle, 2),
        "active_streams_now": active,
        "gate_free_after_s": None if gate_idle is None else round(gate_idle, 2),
        "gate_now": gate,
    }


async def follow_up(
    session: aiohttp.ClientSession, server: Server, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """One more stream on the same key once everything hung up: it must answer in full."""
    s = await stream_once(session, f"{server.base_url}{ROUTE}", headers, body, time.perf_counter())
    return {"error": s.error, "tokens": s.tokens, "completion_tokens": s.completion_tokens}


def server_log_errors(server: Server, since: int) -> list[str]:
    """Lines of the server's log (from byte ``since``) at ERROR or CRITICAL, or tracebacks."""
    text = server.log_path.read_bytes()[since:].decode("utf-8", errors="replace")
    bad = ("ERROR", "CRITICAL", "Traceback")
    return [line[:300] for line in text.splitlines() if any(b in line for b in bad)]


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """The client holds a socket per stream: raise this process's soft limit (the server,
    started after, inherits it) towards the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --- the run -----------------------------------------------------------------------------------


async def soak(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    pid = server.proc.pid if server.proc else 0
    memory: dict[str, float | None] = {"start": rss_mb(pid)}
    fds: dict[str, int | None] = {"start": open_fds(pid)}
    org = make_org(server, "soak")
    key = server.api(
        "POST",
        "/api/keys",
        json={"tenant_id": org.id, "role": "member", "name": "soak", **KEY_LIMITS},
    )
    key.raise_for_status()
    member = key.json()["key"]
    gate = {"max_concurrency": args.streams + 100, "max_queue": 64}
    config = {"yaml": template_yaml(args.tokens, args.pace_ms), **gate}
    made = server.api(
        "POST", "/api/models", key=org.admin_key, json={"id": MODEL, "config": config}
    )
    if made.status_code != 201:
        raise RuntimeError(made.text)
    headers = {"Authorization": f"Bearer {member}", "Content-Type": "application/json"}
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Tell me a long story, please."}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": args.tokens + 16,
        }
    ).encode()

    # One connection per stream, never reused: a connection kept from an earlier phase races
    # the server's 5 s keep-alive close (the client writes as the server closes), which showed
    # as ServerDisconnectedError / reset on a loaded machine and is the client's pooling, not
    # the server under test.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=120, sock_read=120)
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm-up: the model loaded, code paths and caches used once, then measured from here.
        warm, _ = await run_phase(session, server, headers, body, args.warmup, None)
        out["warmup"] = {"streams": len(warm), "errors": sum(s.error is not None for s in warm)}
        await asyncio.sleep(1.0)
        memory["after_warmup"] = rss_mb(pid)
        fds["after_warmup"] = open_fds(pid)
        log_from = server.log_path.stat().st_size

        # Phase 1: every stream read to the end.
        before = await scrape(session, server.base_url)
        cpu0 = cpu_seconds(pid)
        watch = Watch(pid, server.base_url)
        async with watch.running(session):
            streams, wall = await run_phase(session, server, headers, body, args.streams, None)
        after = await scrape(session, server.base_url)
        cpu1 = cpu_seconds(pid)
        memory["peak_phase1"] = watch.peak_rss_mb
        memory["after_phase1"] = rss_mb(pid)
        fds["after_phase1"] = open_fds(pid)
        out["phase1"] = stream_stats(streams, wall, args.tokens) | {
            "server": watch.summary(),
            "server_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
            "event_loop_lag": lag_between(before, after),
            "event_loop_lag_by_stage": lag_by_stage(watch, streams),
            "responses_by_status": responses_by_status(before, after),
        }
        print_phase("phase 1", out["phase1"])

        # Phase 2: every client hangs up after a random part of the answer.
        rng = random.Random(16)
        hang_up = [rng.randint(1, max(1, args.tokens // 2)) for _ in range(args.streams)]
        before = after
        cpu0 = cpu_seconds(pid)
        watch = Watch(pid, server.base_url)
        async with watch.running(session):
            streams, wall = await run_phase(session, server, headers, body, args.streams, hang_up)
        idle = await wait_for_idle(session, server, org.admin_key)
        after = await scrape(session, server.base_url)
        cpu1 = cpu_seconds(pid)
        memory["peak_phase2"] = watch.peak_rss_mb
        memory["after_phase2"] = rss_mb(pid)
        fds["after_phase2"] = open_fds(pid)
        early = [s for s, n in zip(streams, hang_up, strict=True) if not s.error and s.tokens < n]
        phase2 = stream_stats(streams, wall, args.tokens)
        phase2.pop("total_p50_ms"), phase2.pop("total_p99_ms")  # they hung up on purpose
        phase2 |= {
            "hang_up_after_tokens": [min(hang_up), max(hang_up)],
            "ended_before_hang_up": len(early),
            "server": watch.summary(),
            "server_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
            "event_loop_lag": lag_between(before, after),
            "event_loop_lag_by_stage": lag_by_stage(watch, streams),
            "responses_by_status": responses_by_status(before, after),
            "after": idle,
        }
        phase2["after"]["follow_up_stream"] = await follow_up(session, server, headers, body)
        out["phase2"] = phase2
        print_phase("phase 2", phase2)

        # Rest: nothing runs; the lag of an idle loop, memory and descriptors after the run.
        before = await scrape(session, server.base_url)
        await asyncio.sleep(args.settle_s)
        after = await scrape(session, server.base_url)
        memory["after_settle"] = rss_mb(pid)
        fds["after_settle"] = open_fds(pid)
        out["settle"] = {"seconds": args.settle_s, "event_loop_lag": lag_between(before, after)}
    out["server_log_errors"] = server_log_errors(server, log_from)
    out["rss_mb"] = {k: None if v is None else round(v, 1) for k, v in memory.items()}
    out["open_fds"] = fds
    out["targets"] = targets(memory)
    return out


def targets(memory: dict[str, float | None]) -> dict[str, Any]:
    """Growth (the highest peak over the start) under 100 MB; the end within 50 MB of it."""
    start = memory.get("start")
    peaks = [v for k, v in memory.items() if v is not None and k != "start"]
    end = memory.get("after_settle")
    if start is None or not peaks or end is None:
        return {"verdict": "not measured"}
    growth, back = max(peaks) - start, end - start
    return {
        "growth_mb": round(growth, 1),
        "growth_target_mb": TARGET_GROWTH_MB,
        "growth_met": growth < TARGET_GROWTH_MB,
        "end_minus_start_mb": round(back, 1),
        "end_target_mb": TARGET_BACK_MB,
        "end_met": back <= TARGET_BACK_MB,
    }


def print_phase(name: str, p: dict[str, Any]) -> None:
    print(
        f"{name}: {p['ok']}/{p['streams']} ok, errors {p['errors_by_kind'] or 0}, "
        f"{p['wall_s']} s, peak active streams {p['server']['peak_active_streams']}",
        flush=True,
    )


def print_table(result: dict[str, Any]) -> None:
    p1, p2, rss = result["phase1"], result["phase2"], result["rss_mb"]
    rows = [
        ("streams", p1["streams"], p2["streams"]),
        ("errors", p1["errors"], p2["errors"]),
        ("response start p50 / p99 ms",
         f"{p1['response_start_p50_ms']} / {p1['response_start_p99_ms']}",
         f"{p2['response_start_p50_ms']} / {p2['response_start_p99_ms']}"),
        ("TTFT p50 / p99 ms", f"{p1['ttft_p50_ms']} / {p1['ttft_p99_ms']}",
         f"{p2['ttft_p50_ms']} / {p2['ttft_p99_ms']}"),
        ("total p50 / p99 ms", f"{p1['total_p50_ms']} / {p1['total_p99_ms']}", "(hung up)"),
        ("wall s", p1["wall_s"], p2["wall_s"]),
        ("tokens/s received", p1["tokens_per_s"], p2["tokens_per_s"]),
        ("peak active streams (server)", p1["server"]["peak_active_streams"],
         p2["server"]["peak_active_streams"]),
        ("event-loop lag p50 / p99 / max ms (<=)",
         _lag(p1["event_loop_lag"]), _lag(p2["event_loop_lag"])),
        ("lag max ms (<=): admitting / streaming",
         _stages(p1["event_loop_lag_by_stage"]), _stages(p2["event_loop_lag_by_stage"])),
        ("/metrics during p50 / max ms",
         f"{p1['server']['metrics_p50_ms']} / {p1['server']['metrics_max_ms']}",
         f"{p2['server']['metrics_p50_ms']} / {p2['server']['metrics_max_ms']}"),
        ("server CPU s", p1["server_cpu_s"], p2["server_cpu_s"]),
        ("peak RSS MB", rss["peak_phase1"], rss["peak_phase2"]),
        ("RSS MB after", rss["after_phase1"], rss["after_phase2"]),
        ("peak open fds", p1["server"]["peak_open_fds"], p2["server"]["peak_open_fds"]),
        ("responses by status", p1["responses_by_status"], p2["responses_by_status"]),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"\n{'':{width}}  {'phase 1: read to the end':>28}  {'phase 2: hang up mid-stream':>28}")
    for name, a, b in rows:
        print(f"{name:{width}}  {a!s:>28}  {b!s:>28}")
    after = p2["after"]
    print(
        f"\nafter the hang-ups: active streams 0 after {after['active_streams_zero_after_s']} s, "
        f"gate free after {after['gate_free_after_s']} s ({after['gate_now']}), "
        f"follow-up stream: {after['follow_up_stream']}"
    )
    print(
        f"RSS MB: start {rss['start']}, after warm-up {rss['after_warmup']}, "
        f"after {result['settle']['seconds']} s rest {rss['after_settle']}; "
        f"idle event-loop lag {_lag(result['settle']['event_loop_lag'])} ms"
    )
    print(f"open fds: {result['open_fds']}")
    t = result["targets"]
    if "growth_mb" in t:
        print(
            f"targets: growth {t['growth_mb']} MB (< {TARGET_GROWTH_MB:.0f}: "
            f"{'met' if t['growth_met'] else 'NOT met'}), end - start {t['end_minus_start_mb']} MB "
            f"(<= {TARGET_BACK_MB:.0f}: {'met' if t['end_met'] else 'NOT met'})"
        )
    print(f"server log errors: {len(result['server_log_errors'])}")


def _stages(lag: dict[str, Any]) -> str:
    return f"{lag['admitting_max_le_ms']} / {lag['streaming_max_le_ms']}"


def _lag(lag: dict[str, Any]) -> str:
    return f"{lag['p50_le_ms']} / {lag['p99_le_ms']} / {lag['max_le_ms']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 streams per phase")
    parser.add_argument("--streams", type=int, default=None, help="per phase (default 1000)")
    parser.add_argument("--tokens", type=int, default=200, help="words in every answer")
    parser.add_argument("--pace-ms", type=float, default=10.0, help="between answer words")
    parser.add_argument("--warmup", type=int, default=20, help="streams before measuring")
    parser.add_argument("--settle-s", type=float, default=15.0, help="rest after phase 2")
    parser.add_argument("--out", type=Path, default=None, help="write the results here instead")
    parser.add_argument(
        "--server-env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of the server (e.g. PYTHONMALLOC=malloc)",
    )
    args = parser.parse_args()
    args.streams = args.streams or (100 if args.quick else 1000)
    limit = raise_fd_limit(2 * args.streams + 512)
    load_start = machine()["load_average"]
    work = Path(tempfile.mkdtemp(prefix="aigc-bench-soak-"))
    server_env = dict(item.split("=", 1) for item in args.server_env)
    server = Server(work / "data", new_admin_key(), AIGC_LOG_LEVEL="WARNING", **server_env)
    server.start()
    try:
        pid = server.proc.pid if server.proc else 0
        settings = {
            "streams": args.streams,
            "tokens": args.tokens,
            "pace_ms": args.pace_ms,
            "warmup": args.warmup,
            "settle_s": args.settle_s,
            "model": MODEL,
            "key_limits": KEY_LIMITS,
            "model_gate": {"max_concurrency": args.streams + 100, "max_queue": 64},
            "client_fd_limit": list(limit),
            "server_fd_limit": fd_limit(pid),
            "server_env": server_env,
        }
        result = asyncio.run(soak(server, args))
    finally:
        server.stop()
    full = args.streams == 1000 and not args.quick
    record = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(["uvicorn", "uvloop", "httptools", "starlette", "aiohttp"]),
        "load_average_at_start": load_start,
        "settings": settings,
        **result,
    }
    print_table(result)
    print(f"load average at start {load_start}, at the end {record['machine']['load_average']}")
    out = args.out or (RESULTS if full else PARTIAL_RESULTS)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
