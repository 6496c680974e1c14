"""What aigc adds in front of an OpenAI-compatible upstream, beside LiteLLM's proxy doing the same.

Three real processes on loopback ports:

* **mock**: the small OpenAI-compatible server of the tests (``tests/engine/stub_openai.py``,
  uvicorn, one worker): answers at once, streaming 20 chunks;
* **aigc**: ``aigc serve`` with the mock registered as the upstream model ``upstream-mock``
  (by the platform admin; no retries needed, circuit closed);
* **litellm**: LiteLLM's proxy (``litellm --config``, pinned ``litellm[proxy]``, no database,
  one worker) with the mock as ``openai/echo`` under the name ``mock``.

The same client (one keep-alive ``httpx.Client`` per worker thread) sends streaming chat
completions and reads each to ``data: [DONE]``. "Added" = p50/p99 through the proxy minus
p50/p99 of calling the mock directly, at concurrency 1 and 16; requests/s through each.

    python bench/gateway_vs_litellm.py                   # LiteLLM from PATH, or $LITELLM_BIN
    python bench/gateway_vs_litellm.py --quick
    python bench/gateway_vs_litellm.py --litellm-bin /path/to/venv/bin/litellm

LiteLLM is not a dependency of aigc: install it in its own virtualenv (it pins many packages),
e.g. ``python -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install
'litellm[proxy]==1.80.0'``. Without it the LiteLLM rows say so and only aigc is measured.
Results: ``bench/results/gateway_vs_litellm.json``. A benchmark: nothing asserts on timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.e2e.server import Server, free_port, new_admin_key  # noqa: E402

RESULTS = HERE / "results" / "gateway_vs_litellm.json"
LITELLM_VERSION = "1.80.0"  # 1.110.x: its proxy extra needs litellm-proxy, not on PyPI here
BODY = {"messages": [{"role": "user", "content": "Say hello"}], "stream": True, "max_tokens": 64}


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"not ready in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )


def measure(url: str, model: str, key: str, concurrency: int, count: int) -> dict[str, float]:
    """Streaming requests read to [DONE]; latencies in ms and requests/s."""
    latencies: list[float] = []
    lock = threading.Lock()
    body = json.dumps(BODY | {"model": model}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    per_worker = count // concurrency

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            for _ in range(10):  # warm-up
                run_one(client)
            mine = []
            for _ in range(per_worker):
                t = time.perf_counter()
                run_one(client)
                mine.append((time.perf_counter() - t) * 1000)
            with lock:
                latencies.extend(mine)

    def run_one(client: httpx.Client) -> None:
        chunks = 0
        with client.stream("POST", url, content=body, headers=headers) as resp:
            if resp.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {resp.status_code} {resp.read()[:300]!r}")
            for line in resp.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunks += 1
        if chunks < 20:
            raise RuntimeError(f"{url}: only {chunks} chunks")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "rps": round(len(latencies) / wall, 1),
        "requests": len(latencies),
    }


def litellm_binary(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("LITELLM_BIN"), shutil.which("litellm")):
        if candidate and Path(candidate).exists():
            return candidate
    default = Path("/tmp/litellm-venv/bin/litellm")
    return str(default) if default.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--litellm-bin", default=None)
    args = parser.parse_args()
    counts = {1: 100, 16: 320} if args.quick else {1: 400, 16: 1600}
    work = Path(tempfile.mkdtemp(prefix="aigc-bench-litellm-"))
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {"direct": {}, "aigc": {}, "litellm": {}}
    notes: list[str] = []
    aigc: Server | None = None
    try:
        mock_port = free_port()
        mock_url = f"http://127.0.0.1:{mock_port}"
        log = work / "mock.log"
        procs.append(
            start(
                [sys.executable, "-m", "tests.engine.stub_openai", "--port", str(mock_port)],
                log,
                env={**os.environ, "PYTHONPATH": str(HERE.parent)},
            )
        )
        wait_ready(f"{mock_url}/docs", procs[-1], log)

        aigc = Server(work / "aigc", new_admin_key(), AIGC_LOG_LEVEL="WARNING").start()
        config = {"base_url": f"{mock_url}/v1", "model": "echo", "api_key": "sk-mock"}
        made = aigc.api("POST", "/api/models", json={"id": "upstream-mock", "config": config})
        if made.status_code != 201:
            raise RuntimeError(made.text)

        binary = litellm_binary(args.litellm_bin)
        litellm_url = None
        if binary is None:
            notes.append(
                "LiteLLM not installed: install litellm[proxy]=="
                f"{LITELLM_VERSION} in its own venv and pass --litellm-bin"
            )
        else:
            port = free_port()
            cfg = work / "litellm.yaml"
            cfg.write_text(
                "model_list:\n  - model_name: mock\n    litellm_params:\n"
                f"      model: openai/echo\n      api_base: {mock_url}/v1\n"
                "      api_key: sk-mock\n"
            )
            log = work / "litellm.log"
            env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
            procs.append(
                start(
                    [binary, "--config", str(cfg), "--port", str(port), "--num_workers", "1"],
                    log,
                    env=env,
                )
            )
            wait_ready(f"http://127.0.0.1:{port}/health/liveliness", procs[-1], log, 180)
            litellm_url = f"http://127.0.0.1:{port}/v1/chat/completions"

        for c, n in counts.items():
            results["direct"][c] = measure(f"{mock_url}/v1/chat/completions", "echo", "x", c, n)
            results["aigc"][c] = measure(
                f"{aigc.base_url}/v1/chat/completions", "upstream-mock", aigc.admin_key, c, n
            )
            if litellm_url:
                results["litellm"][c] = measure(litellm_url, "mock", "sk-none", c, n)
            print(f"  concurrency {c} done", flush=True)
    finally:
        if aigc is not None:
            aigc.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    print(
        f"\n{'system':10} {'c':>3} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} "
        f"{'added p99':>10} {'req/s':>8}"
    )
    added: dict[str, dict[int, dict[str, float]]] = {"aigc": {}, "litellm": {}}
    for name in ("direct", "aigc", "litellm"):
        for c, r in results[name].items():
            base = results["direct"][c]
            extra = ""
            if name != "direct":
                a50, a99 = r["p50_ms"] - base["p50_ms"], r["p99_ms"] - base["p99_ms"]
                added[name][c] = {"p50_ms": round(a50, 2), "p99_ms": round(a99, 2)}
                extra = f"{a50:>10.2f} {a99:>10.2f}"
            else:
                extra = f"{'':>10} {'':>10}"
            print(
                f"{name:10} {c:>3} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {extra} {r['rps']:>8.1f}"
            )
    verdict = None
    if added["litellm"].get(16) and added["aigc"].get(16):
        ours, theirs = added["aigc"][16]["p50_ms"], added["litellm"][16]["p50_ms"]
        verdict = round(ours / theirs, 3) if theirs > 0 else None
        print(
            f"\nadded p50 at c=16: aigc {ours:.2f} ms vs LiteLLM {theirs:.2f} ms "
            f"-> ratio {verdict} (target <= 0.2)"
        )
    for note in notes:
        print("note:", note)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {
                    "nproc": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "litellm_version": LITELLM_VERSION if litellm_url else None,
                "quick": args.quick,
                "results": results,
                "added": added,
                "ratio_added_p50_c16": verdict,
                "notes": notes,
            },
            indent=2,
        )
    )
    print(f"written to {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
