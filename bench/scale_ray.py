"""Issue 20 benchmark (b): the latency a Ray Serve deployment handle adds over the same model
served in-process.

The same engine both ways: the shipped ``template-helpdesk`` model, loaded by the registry's
loader in this process, and deployed on a Ray head this script starts (``ray start --head
--block``, its own session, ended at the end) as ``aigc serve`` deploys it
(``models.ray_serving.RayServing``, one replica). Each request is what the gateway does with a
model: a full streamed answer read to its end (``agenerate`` on the Ray side; ``generate`` on
the in-process side), timed from the call to the last piece. Concurrency c=1 and c=16 (asyncio
tasks, as the gateway's event loop runs them). "added" = Ray p50/p99 - in-process p50/p99.

    python bench/scale_ray.py            # full run (a few minutes: Ray starts slowly)
    python bench/scale_ray.py --quick    # fewer requests

``bench/scale.py`` imports ``measure`` and ``table``. Results: ``bench/results/scale-ray.json``.
A benchmark, not a test: nothing asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.benchlib import machine, percentile  # noqa: E402
from tests.ray_head import loopback_driver, ray_head  # noqa: E402

RESULTS = HERE / "results" / "scale-ray.json"
QUESTION = "How do I reset my password?"
TARGET_ADDED_P50_MS = 3.0


def _record() -> Any:
    from aigc.infra.schema import ModelRecord

    return ModelRecord(
        id="mdl_bench",
        tenant_id=None,
        name="template-helpdesk",
        family="template",
        kind="text",
        config={"path": "builtin:helpdesk"},
        status="ready",
    )


def _request() -> Any:
    from aigc.models.protocols import ChatMessage, TextRequest

    return TextRequest(messages=[ChatMessage("user", QUESTION)], max_tokens=256)


async def _one_local(model: Any, request: Any) -> float:
    start = time.perf_counter()
    for _ in model.generate(request):  # the template runs inline on the loop, as the gateway does
        pass
    return (time.perf_counter() - start) * 1000


async def _one_ray(model: Any, request: Any) -> float:
    start = time.perf_counter()
    async for _ in model.agenerate(request):
        pass
    return (time.perf_counter() - start) * 1000


async def _run(model: Any, one: Any, concurrency: int, requests: int) -> list[float]:
    request = _request()
    for _ in range(min(20, requests)):  # warm up
        await one(model, request)
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            latencies.append(await one(model, request))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p99_ms": round(percentile(values, 99), 3),
    }


def measure(quick: bool = False) -> dict[str, Any]:
    """In-process vs Ray Serve handle for the same model, at c=1 and c=16."""
    from aigc.config import Settings
    from aigc.models.family import load_families
    from aigc.models.ray_serving import RayServing
    from aigc.models.registry import loader_for

    load_families([])
    record = _record()
    local = loader_for(record.family, record.name, record.config)(record.config)
    requests = {1: 200 if quick else 1000, 16: 400 if quick else 2000}
    rows: list[dict[str, Any]] = []
    with ray_head(cpus=4) as address, loopback_driver():
        settings = Settings(
            ray_address=address,
            ray_namespace="aigc-bench",
            ray_deployments={"*": {"num_replicas": 1, "max_ongoing_requests": 32}},
        )
        remote = RayServing(settings).load(record)
        for concurrency, n in requests.items():
            in_process = asyncio.run(_run(local, _one_local, concurrency, n))
            on_ray = asyncio.run(_run(remote, _one_ray, concurrency, n))
            a, b = _summary(in_process), _summary(on_ray)
            rows.append(
                {
                    "concurrency": concurrency,
                    "in_process": a,
                    "ray_handle": b,
                    "added_p50_ms": round(b["p50_ms"] - a["p50_ms"], 3),
                    "added_p99_ms": round(b["p99_ms"] - a["p99_ms"], 3),
                }
            )
        import ray

        ray.shutdown()
    c1 = next(r for r in rows if r["concurrency"] == 1)
    return {
        "benchmark": "scale-ray",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(["ray", "torch"]),
        "quick": quick,
        "model": record.name,
        "rows": rows,
        "target": {
            "added_p50_ms_at_c1": TARGET_ADDED_P50_MS,
            "met": c1["added_p50_ms"] <= TARGET_ADDED_P50_MS,
        },
    }


def table(result: dict[str, Any]) -> str:
    """A markdown table of ``measure``'s result."""
    lines = [
        "| c | in-process p50 / p99 (ms) | Ray handle p50 / p99 (ms) | added p50 / p99 (ms) |",
        "|---|---|---|---|",
    ]
    for row in result["rows"]:
        a, b = row["in_process"], row["ray_handle"]
        lines.append(
            f"| {row['concurrency']} | {a['p50_ms']:.3f} / {a['p99_ms']:.3f} "
            f"| {b['p50_ms']:.3f} / {b['p99_ms']:.3f} "
            f"| {row['added_p50_ms']:.3f} / {row['added_p99_ms']:.3f} |"
        )
    target = result["target"]
    met = "met" if target["met"] else "not met"
    lines.append("")
    lines.append(f"Target: ≤ {target['added_p50_ms_at_c1']} ms p50 added at c=1: {met}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args(argv)
    result = measure(args.quick)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
