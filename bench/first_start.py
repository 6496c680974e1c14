"""Time from a fresh start until every default image model is ready, while gpt-pydoc trains.

Starts ``aigc serve`` on an empty data directory with the default models on (as a first
``make serve`` does), polls ``/v1/models`` every ``--poll`` seconds as the platform admin, and
records when each default model becomes ready (or failed). It stops once every image default
is ready (``--until-gpt``: also gpt-pydoc), then stops the server with SIGTERM.

CPU is read from ``/proc``: the server process's own CPU time (all its threads) and the whole
machine's busy time, so the table says how many cores the server used and how many everything
else on the machine (other work sharing it) used meanwhile. Each job's wall time and the CPU
time of its thread come from the server's log (the runner writes both when a job ends): on a
machine of its own, a job's wall time would be close to its CPU time.

    python bench/first_start.py                 # the settings' defaults (slots from the CPUs)
    python bench/first_start.py --slots 1       # one job at a time: the runner before slots

Results go to ``bench/results/first_start.json`` (``--out`` to change). A benchmark, not a
test: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.e2e.server, bench.benchlib

from bench.benchlib import cpu_seconds  # noqa: E402
from tests.e2e.server import free_port  # noqa: E402

RESULTS = HERE / "results" / "first_start.json"
IMAGE_DEFAULTS = (
    "gan-digits",
    "vae-digits",
    "clip-digits",
    "mm-digits-captioner",
    "mm-digits-text2image",
)
GPT = "gpt-pydoc"
TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all CPUs spent busy since boot (everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def not_ready_detail(base: str, key: str, model: str) -> str:
    """The 503 message a client gets for ``model`` now (empty once it answers)."""
    reply = httpx.post(
        f"{base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "def"}], "max_tokens": 1},
        timeout=60,
    )
    return str(reply.json()["error"]["message"]) if reply.status_code == 503 else ""


def job_models(base: str, key: str) -> dict[str, str]:
    """Job id → the model it trains (from each job's params or result), for the jobs table."""
    listed = httpx.get(
        f"{base}/api/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ).json()["data"]
    names = {}
    for job in listed:
        result = job.get("result") or {}
        names[job["id"]] = str(result.get("model") or job["kind"])
    return names


def job_times(log_path: Path, models_of: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per finished job run: its wall time and the CPU time of its thread (server log)."""
    times: dict[str, dict[str, float]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "cpu_s" in entry and "job_id" in entry:
            name = models_of.get(entry["job_id"], entry["job_id"])
            times[name] = {"wall_s": entry["wall_s"], "cpu_s": entry["cpu_s"]}
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="aigc-first-start-")) / "data"
    key = "sk-aigc-" + secrets.token_urlsafe(24)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIGC_DATA_DIR": str(data),
        "AIGC_ADMIN_KEY": key,
        "AIGC_DEFAULT_MODELS": "on",
        "AIGC_LOG_LEVEL": "INFO",
        "AIGC_LOG_JSON": "true",
    }
    if args.slots is not None:
        env["AIGC_JOB_SLOTS"] = str(args.slots)
    if args.threads is not None:
        env["AIGC_JOB_THREADS"] = str(args.threads)
    log_path = data.parent / "server.log"
    log = log_path.open("wb")
    load_before = loadavg()
    busy0, t0 = machine_busy_s(), time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aigc", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    ready: dict[str, float] = {}
    failed: dict[str, str] = {}
    samples: list[dict[str, Any]] = []
    details: dict[str, str] = {}
    wanted = set(IMAGE_DEFAULTS) | ({GPT} if args.until_gpt else set())
    try:
        while time.monotonic() - t0 < args.timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {data.parent / 'server.log'}")
            try:
                listed = httpx.get(
                    f"{base}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30
                ).json()["data"]
            except httpx.HTTPError:
                time.sleep(args.poll)
                continue
            now = time.monotonic() - t0
            status = {m["id"]: m.get("status") for m in listed}
            for name, state in status.items():
                if state == "ready" and name not in ready:
                    ready[name] = round(now, 1)
                    print(f"{now:7.1f} s  {name} ready", flush=True)
            for name in wanted - set(failed):
                if status.get(name) == "failed":
                    failed[name] = "failed"
            if GPT not in details and status.get(GPT) == "training" and now > 30:
                details[GPT] = not_ready_detail(base, key, GPT)  # what a client is told
            samples.append({"t": round(now, 1), "load": loadavg()[0]})
            if wanted <= set(ready) | set(failed):
                break
            time.sleep(args.poll)
        wall = time.monotonic() - t0
        server_cpu = cpu_seconds(proc.pid) or 0.0  # None: /proc unreadable
        others = max(0.0, machine_busy_s() - busy0 - server_cpu)
        gpt_detail = not_ready_detail(base, key, GPT)
        models_of = job_models(base, key)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    images = [ready.get(name) for name in IMAGE_DEFAULTS]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {"job_slots": args.slots, "job_threads": args.threads},
        "ready_s": ready,
        "failed": failed,
        "all_image_defaults_ready_s": max(images) if all(x is not None for x in images) else None,
        "gpt_pydoc_at_end": gpt_detail or "ready",
        "gpt_pydoc_503_after_30s": details.get(GPT, ""),
        "jobs": job_times(log_path, models_of),
        "wall_s": round(wall, 1),
        "server_cores": round(server_cpu / wall, 2),
        "other_processes_cores": round(others / wall, 2),
        "loadavg_before": load_before,
        "loadavg_samples": samples[:: max(1, len(samples) // 40)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, default=None, help="AIGC_JOB_SLOTS (default: auto)")
    parser.add_argument("--threads", type=int, default=None, help="AIGC_JOB_THREADS")
    parser.add_argument("--timeout", type=float, default=2400, help="give up after (s)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--until-gpt", action="store_true", help="also wait for gpt-pydoc")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args)
    print()
    print("| model | ready after (s) | its job: wall (s) | CPU of its thread (s) |")
    print("|---|---|---|---|")
    for name in (*IMAGE_DEFAULTS, GPT):
        times = result["jobs"].get(name, {})
        print(
            f"| {name} | {result['ready_s'].get(name, '-')} | {times.get('wall_s', '-')} "
            f"| {times.get('cpu_s', '-')} |"
        )
    print(f"\nevery image default ready after {result['all_image_defaults_ready_s']} s")
    print(f"gpt-pydoc then: {result['gpt_pydoc_at_end']}")
    print(
        f"server used {result['server_cores']} cores, other processes "
        f"{result['other_processes_cores']} cores; load average before {result['loadavg_before']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
