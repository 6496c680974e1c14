"""Scale-out (issue 20): what a second instance, a Ray Serve handle and pgvector cost or bring.

Three parts, each a dict under its letter in ``bench/results/scale.json`` (a part that is run
replaces its own entry; the others stay as last measured), printed as one table:

* **a** (this file): ``template-helpdesk`` chat requests through nginx to one instance, then to
  two, on one PostgreSQL and one Redis (the two-instance layout of docs/deploy.md, started as
  tests/e2e/cluster.py starts it: throwaway PostgreSQL and Redis, real nginx). Reported: the
  throughput of each and their ratio, latency p50/p99, and the CPU each request cost the
  gateway processes, nginx (``/proc/<pid>/stat``, all threads) and the client (this process).
  The client runs on the same machine: on 2 cores every process competes for the same CPUs, so
  the ratio shows what the CPU allows, not what two machines would do. Rounds alternate the
  order (one, two / two, one).
* **b**: ``bench/scale_ray.py`` — the latency a Ray Serve handle adds over an in-process model.
* **c**: ``bench/scale_search.py`` — knowledge search at 100k chunks, pgvector HNSW vs FAISS.
  Both modules provide ``measure(quick: bool) -> dict`` and ``table(result: dict) -> str``; a
  part whose module is absent is reported as not run.

    python bench/scale.py                 # all parts
    python bench/scale.py --part a --quick

This is a benchmark, not a test: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench.benchlib, tests.e2e.cluster

from bench.benchlib import cpu_seconds, machine, percentile  # noqa: E402

RESULTS = HERE / "results" / "scale.json"
MODEL = "template-helpdesk"
BODY = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "How do I reset my password?"}]}
).encode()
OTHER_PARTS = {"b": "bench.scale_ray", "c": "bench.scale_search"}
# Where those modules' own scripts write their last run (``--reuse`` takes it from there).
PART_RESULTS = {
    "b": HERE / "results" / "scale-ray.json",
    "c": HERE / "results" / "scale-search.json",
}


# --- part a: one vs two instances behind nginx ----------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (nginx's workers under its master), from /proc."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


def _load(url: str, key: str, total: int, concurrency: int) -> tuple[list[float], float]:
    """``total`` requests over ``concurrency`` threads, each with its own keep-alive client:
    every latency in ms and the wall time. A failed request stops the run (no silent errors)."""
    shares = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    start = threading.Barrier(concurrency + 1)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            start.wait()
            for _ in range(shares[i]):
                t0 = time.perf_counter()
                response = client.post("/v1/chat/completions", content=BODY)
                latencies[i].append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                    return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"a request failed: {errors[0]}")
    return [x for out in latencies for x in out], wall


def measure_a(quick: bool, log: Callable[[str], None] = print) -> dict[str, Any]:
    from tests import services
    from tests.e2e.cluster import create_database, start_cluster

    requests, rounds, concurrency = (300, 1, 16) if quick else (1500, 3, 16)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    bindir, redis_bin, nginx_bin = (
        services.postgres_bindir(),
        services.redis_binary(),
        services.nginx_binary(),
    )
    if bindir is None or redis_bin is None or nginx_bin is None:
        raise RuntimeError("part a needs PostgreSQL, Redis and nginx (sudo make deps)")
    postgres = services.Postgres(bindir).start()
    redis = services.Redis(redis_bin).start()
    one = None
    cluster = None
    root = Path(tempfile.mkdtemp(prefix="aigc-bench-scale-"))
    try:
        log("starting two instances and nginx …")
        cluster = start_cluster(root, create_database(postgres.url), redis.url)
        one = services.Nginx(nginx_bin, [f"127.0.0.1:{cluster.a.port}"]).start()
        servers = [s.proc.pid for s in cluster.instances if s.proc is not None]
        fronts = {"one": one, "two": cluster.nginx}
        for front in fronts.values():  # warm both paths (model loaded, connections open)
            _load(front.url, cluster.admin_key, 50, 4)
        phases: dict[str, list[dict[str, float]]] = {"one": [], "two": []}
        for r in range(rounds):
            order = ["one", "two"] if r % 2 == 0 else ["two", "one"]
            for name in order:
                front = fronts[name]
                assert front.proc is not None
                nginx_pids = [front.proc.pid, *_children(front.proc.pid)]
                cpu0, ngx0, own0 = _cpu(servers), _cpu(nginx_pids), time.process_time()
                latencies, wall = _load(front.url, cluster.admin_key, requests, concurrency)
                cpu1, ngx1, own1 = _cpu(servers), _cpu(nginx_pids), time.process_time()
                phases[name].append(
                    {
                        "rps": requests / wall,
                        "p50_ms": percentile(latencies, 50),
                        "p99_ms": percentile(latencies, 99),
                        "server_cpu_ms_per_request": (cpu1 - cpu0) * 1000 / requests,
                        "nginx_cpu_ms_per_request": (ngx1 - ngx0) * 1000 / requests,
                        "client_cpu_ms_per_request": (own1 - own0) * 1000 / requests,
                    }
                )
                log(f"round {r + 1}/{rounds} {name}: {requests / wall:.0f} req/s")
        per_instance = _requests_per_instance(cluster)
    finally:
        if one is not None:
            one.stop()
        if cluster is not None:
            cluster.stop()
        redis.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)

    def median(name: str, field: str) -> float:
        values = sorted(p[field] for p in phases[name])
        return round(values[len(values) // 2], 3)

    fields = [
        "rps",
        "p50_ms",
        "p99_ms",
        "server_cpu_ms_per_request",
        "nginx_cpu_ms_per_request",
        "client_cpu_ms_per_request",
    ]
    result: dict[str, Any] = {
        "requests_per_phase": requests,
        "rounds": rounds,
        "concurrency": concurrency,
        "model": MODEL,
        "load_average_at_start": load_at_start,
        "one": {f: median("one", f) for f in fields},
        "two": {f: median("two", f) for f in fields},
        "rounds_raw": phases,
        "two_instances_requests_share": per_instance,
    }
    result |= ratios(phases)
    return result


def ratios(phases: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Two over one in each round (the two phases of a round ran back to back, so they shared
    the machine's load most closely) and their median: the headline ratio."""
    each = [
        round(t["rps"] / o["rps"], 3) for o, t in zip(phases["one"], phases["two"], strict=True)
    ]
    return {
        "ratio_two_over_one_per_round": each,
        "ratio_two_over_one": sorted(each)[len(each) // 2],
    }


def _requests_per_instance(cluster: Any) -> dict[str, int]:
    """How the two-instance nginx spread the chat requests (its access log)."""
    names = {f"127.0.0.1:{cluster.a.port}": "a", f"127.0.0.1:{cluster.b.port}": "b"}
    counts = {"a": 0, "b": 0}
    for entry in cluster.nginx.access_log():
        if len(entry) == 4 and entry[1] == "/v1/chat/completions" and entry[3] in names:
            counts[names[entry[3]]] += 1
    return counts


def table_a(result: dict[str, Any]) -> str:
    rows = [
        "(a) template-helpdesk through nginx, "
        f"{result['concurrency']} concurrent clients, {result['requests_per_phase']} requests "
        f"× {result['rounds']} round(s), median",
        "",
        "| instances | req/s | p50 ms | p99 ms | gateway CPU ms/req | nginx CPU ms/req "
        "| client CPU ms/req |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (("one", "1"), ("two", "2")):
        r = result[name]
        rows.append(
            f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['server_cpu_ms_per_request']:.2f} | {r['nginx_cpu_ms_per_request']:.3f} | "
            f"{r['client_cpu_ms_per_request']:.2f} |"
        )
    share = result.get("two_instances_requests_share", {})
    rows.append("")
    rows.append(
        f"throughput ratio two/one, median of the rounds: **{result['ratio_two_over_one']:.2f}** "
        f"(each round: {', '.join(f'{r:.2f}' for r in result['ratio_two_over_one_per_round'])}) "
        f"(requests answered by A / B through the two-instance nginx, warm-up included: "
        f"{share.get('a', '?')} / {share.get('b', '?')}); load average at start "
        f"{result.get('load_average_at_start')}"
    )
    return "\n".join(rows)


# --- the driver -----------------------------------------------------------------------------


def run_part(
    part: str, quick: bool, reuse: bool = False
) -> tuple[dict[str, Any], Callable[[dict[str, Any]], str]]:
    """Measure one part: its result (with the machine it ran on) and its table function.

    ``reuse``: parts b and c are taken as their own script last wrote them (part c loads 100k
    rows into PostgreSQL, a quarter of an hour), with the file named in the result."""
    if part == "a":
        measure, table = measure_a, table_a
    else:
        name = OTHER_PARTS[part]
        if importlib.util.find_spec(name) is None:
            missing = {"status": f"not run: {name.replace('.', '/')}.py is absent"}
            return missing, lambda r: f"({part}) {r['status']}"
        module = importlib.import_module(name)
        measure, table = module.measure, module.table
        if reuse and PART_RESULTS[part].exists():
            result = json.loads(PART_RESULTS[part].read_text())
            result["reused_from"] = str(PART_RESULTS[part].relative_to(HERE.parent))
            return result, table
    result = dict(measure(quick))
    result["quick"] = quick
    result["machine"] = machine(["torch"])
    result["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return result, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b", "c"], action="append", help="repeatable")
    parser.add_argument("--quick", action="store_true", help="fewer requests, one round")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="parts b and c: the last run of bench/scale_ray.py / scale_search.py, not a new one",
    )
    args = parser.parse_args(argv)
    parts = args.part or ["a", "b", "c"]
    saved: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    tables = []
    for part in parts:
        result, table = run_part(part, args.quick, args.reuse)
        if "status" not in result or part not in saved:
            saved[part] = result
        tables.append(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n")
    print("\n\n".join(tables))
    print(f"\nresults written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
