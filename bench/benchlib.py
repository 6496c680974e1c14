"""Helpers several benchmarks share: percentiles, what machine ran it, a server process's
memory and file descriptors (Linux /proc), and values read from a Prometheus /metrics page.

Scripts import it as ``from bench.benchlib import ...`` after putting the repository root on
``sys.path`` (as they do for ``tests.e2e.server``).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def machine(modules: Iterable[str] = ()) -> dict[str, Any]:
    """CPU count and model, Python, platform, the load average now, and ``modules``' versions."""
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    for module in modules:
        try:
            info[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            info[module] = None
    return info


# --- a process, from /proc ------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of every thread of ``pid`` so far (Linux /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # fields[0] is field 3 (state) of proc(5)
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB (VmRSS); None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def open_fds(pid: int) -> int | None:
    """File descriptors ``pid`` holds open (sockets included); None when it cannot be read."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def threads(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_limit(pid: int) -> tuple[int, int] | None:
    """(soft, hard) "Max open files" of ``pid``; None when unknown or unlimited."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    except (OSError, ValueError):
        return None
    return None


# --- Prometheus text ------------------------------------------------------------------------


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metric_sum(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and wanted <= set(lab))


def histogram_buckets(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[float, float]:
    """Cumulative counts of histogram ``name`` by upper bound (``le``), over all label sets."""
    out: dict[float, float] = {}
    for (n, lab), v in samples.items():
        if n == f"{name}_bucket":
            le = float(dict(lab)["le"])
            out[le] = out.get(le, 0.0) + v
    return out


def bucket_quantile(buckets: dict[float, float], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` (0..1) of cumulative ``buckets``:
    an upper estimate, as precise as the buckets are. None when nothing was observed."""
    total = max(buckets.values(), default=0.0)
    if total <= 0:
        return None
    for le in sorted(buckets):
        if buckets[le] >= q * total:
            return le
    return math.inf
