"""Ingestion speed on real filings: the 24 financebench PDFs, end to end, in chunks per second.

    .venv/bin/python bench/ingest.py                  # before (main's code) and after (this tree)
    .venv/bin/python bench/ingest.py --only after     # just this tree (onnx; or after-int8)
    .venv/bin/python bench/ingest.py --limit 6        # the first 6 PDFs (a quick look)
    .venv/bin/python bench/ingest.py --quality        # nDCG@10: torch vs ONNX fp32 vs int8

Quality (``--quality``): the embedding backends side by side on bench/retrieval.py's two sets
(MS MARCO, Chinese known-item), scored by that script's own ``quality`` function, so int8 is
only the default where its nDCG@10 stays within 0.01 of float; plus the cosine of each
backend's vectors to PyTorch's, per text.

Each variant runs in its own process on a fresh data directory (a cold embedding cache, an
empty database) with ``PYTHONPATH`` pointing at that variant's ``src``: "before" is
``git archive``'d from ``--before`` (default ``main``), "after" is this working tree. The timed
part is ``ingest_documents`` on the already stored files: parse (the PDF worker process),
chunk, write the chunks, embed, build and save the index, exactly as the ``kb-ingest`` job
runs it. Where the time goes is measured by wrapping the pipeline's functions with timers
(their time overlaps when the pipeline runs them side by side, so the stages can add up to
more than the wall time).

The machine is shared: the load average before and after each run is recorded with it, and
the script can be run under ``nice``. Needs ``../shared/data/retrieval/financebench``; without
it the script says so and exits.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "retrieval" / "financebench" / "pdfs"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/retrieval/financebench/pdfs")
RESULTS = ROOT / "bench" / "results" / "ingest.json"

sys.path.insert(0, str(ROOT))
from bench.benchlib import machine  # noqa: E402

# (module, attribute, stage): the functions whose time is summed per stage, where they exist.
STAGES = [
    ("aigc.knowledge.parse", "parse_document", "parse"),
    ("aigc.knowledge.ingest", "chunk_blocks", "chunk"),
    ("aigc.knowledge.embed", "Embedder.embed", "embed"),
    ("aigc.knowledge.ingest", "_store_chunks", "db"),
    ("aigc.knowledge.index", "KbIndex.updated", "index"),
    ("aigc.knowledge.index", "KbIndex.save", "index"),
]


# --- the child: one variant, timed ----------------------------------------------------------


def _timed(stage: str, fn: Callable[..., Any], totals: dict[str, float]) -> Callable[..., Any]:
    lock = threading.Lock()

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            with lock:
                totals[stage] = totals.get(stage, 0.0) + time.perf_counter() - t0

    return wrapper


def _instrument(totals: dict[str, float]) -> None:
    import importlib

    for module_name, attr, stage in STAGES:
        module = importlib.import_module(module_name)
        owner: Any = module
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, _timed(stage, getattr(owner, name), totals))


def run_child(limit: int | None) -> dict[str, Any]:
    from aigc.access import Principal
    from aigc.config import Settings
    from aigc.infra.db import Database
    from aigc.infra.schema import Tenant
    from aigc.knowledge import bases
    from aigc.knowledge.ingest import add_document, ingest_documents
    from aigc.tables import Base

    totals: dict[str, float] = {}
    _instrument(totals)
    pdfs = sorted(DATA.glob("*.pdf"))[:limit]
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/kb.db")
        Base.metadata.create_all(db.engine)
        admin = Principal(tenant_id="t", role="admin", key_id="k")
        with db.session() as s:
            s.add(Tenant(id="t", name="t"))
        settings = Settings(data_dir=Path(tmp) / "data")
        with db.session() as s:
            kb = bases.create_kb(s, admin, "bench", dense=True).id
            ids = [add_document(s, settings, admin, kb, p.name, [p.read_bytes()]) for p in pdfs]
        t0, cpu0 = time.perf_counter(), _cpu_seconds()
        result = ingest_documents(
            db,
            settings,
            "t",
            kb,
            [a.document.id for a in ids],
            progress=lambda f, m: lines.append((round(time.perf_counter() - t0, 2), m)),
        )
        took, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
        db.dispose()
    return {
        "documents": len(pdfs),
        "indexed": result["indexed"],
        "failed": result["failed"],
        "chunks": result["chunks"],
        "seconds": round(took, 1),
        "chunks_per_s": round(result["chunks"] / took, 2),
        # CPU used by this process and its PDF workers: chunks per CPU-second times the cores
        # is the rate on an idle machine (an upper bound: parsing and embedding overlap).
        "cpu_seconds": round(cpu, 1),
        "chunks_per_cpu_s": round(result["chunks"] / cpu, 2),
        "stage_seconds": {k: round(v, 1) for k, v in sorted(totals.items())},
        "progress": lines,
    }


# --- quality: the backends on bench/retrieval.py's sets -------------------------------------


def run_quality() -> dict[str, Any]:
    import numpy as np
    from bench import retrieval

    from aigc.knowledge.embed import Embedder

    onnx_dir = ROOT / "bench" / "results" / "cache" / "onnx"
    sets = {
        "msmarco": (retrieval.load_msmarco(), False),
        "zh_known_item": (retrieval.chinese_known_items(), True),
    }
    out: dict[str, Any] = {}
    reference: dict[str, np.ndarray] = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        embedder = Embedder(backend=backend, onnx_dir=onnx_dir)  # no cache: every text embedded
        for name, ((ids, texts, queries, qrels), zh) in sets.items():
            t0 = time.perf_counter()
            res = retrieval.quality(name, ids, texts, queries, qrels, embedder, zh=zh)
            vectors = res["index"].vectors
            row: dict[str, Any] = {
                "ndcg@10 dense": round(res["methods"]["dense (MiniLM)"]["ndcg@10"], 4),
                "ndcg@10 hybrid": round(
                    next(v["ndcg@10"] for k, v in res["methods"].items() if "hybrid" in k), 4
                ),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            if backend == "torch":
                reference[name] = vectors
            else:
                cos = (vectors * reference[name]).sum(axis=1)
                row["cosine_to_torch_min"] = round(float(cos.min()), 4)
                row["cosine_to_torch_mean"] = round(float(cos.mean()), 4)
            out.setdefault(backend, {})[name] = row
            print(f"[quality] {backend} {name}: {row}", flush=True)
    return out


def _cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


# --- the parent: variants side by side ------------------------------------------------------


def export_tree(rev: str, dest: Path) -> Path:
    """``src`` of ``rev`` (a branch or commit of this repository) unpacked under ``dest``."""
    archive = dest / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "src"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def run_variant(src: Path, limit: int | None, nice: int, backend: str | None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{ROOT}")
    env.pop("AIGC_KB_EMBEDDING_BACKEND", None)
    if backend:
        env["AIGC_KB_EMBEDDING_BACKEND"] = backend
    command = [sys.executable, __file__, "--child"]
    if limit:
        command += ["--limit", str(limit)]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    load_before = [round(x, 2) for x in os.getloadavg()]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the run with {src} failed:\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["load_average_before"] = load_before
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help="only the first N PDFs (sorted by name)")
    parser.add_argument("--only", choices=("before", "after", "after-int8"), action="append")
    parser.add_argument("--before", default="main", help="the git revision measured as before")
    parser.add_argument("--nice", type=int, default=0, help="run the variants under nice -n N")
    parser.add_argument("--quality", action="store_true", help="nDCG of the embedding backends")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.limit), ensure_ascii=False))
        return
    if not DATA.is_dir():
        print(f"no data at {DATA}: nothing to measure")
        return
    if args.quality:
        sys.path.insert(0, str(ROOT / "src"))
        quality = {"machine": machine(["onnxruntime", "torch"]), "backends": run_quality()}
        save({"quality": quality})
        return
    report: dict[str, Any] = {"machine": machine(["onnxruntime", "torch"]), "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        variants = {
            "before": (args.before, None, None),
            "after": ("working tree, onnx", ROOT / "src", "onnx"),
            "after-int8": ("working tree, onnx-int8", ROOT / "src", "onnx-int8"),
        }
        for label, (what, src, backend) in variants.items():
            if args.only and label not in args.only:
                continue
            code = src or export_tree(args.before, Path(tmp))
            print(f"[{label}] {what}: ingesting...", flush=True)
            result = run_variant(code, args.limit, args.nice, backend)
            result["code"] = what
            report["variants"][label] = result
            print(
                f"[{label}] {result['chunks']} chunks in {result['seconds']} s: "
                f"{result['chunks_per_s']} chunks/s; stages {result['stage_seconds']}",
                flush=True,
            )
    save({"speed" if not args.limit else f"speed_first_{args.limit}": report})
    print_table(report)


def save(part: dict[str, Any]) -> None:
    """Merge ``part`` into bench/results/ingest.json (speed and quality are separate runs)."""
    report = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for key, value in part.items():  # variants measured in separate runs are kept together
        if "variants" in value and "variants" in report.get(key, {}):
            value["variants"] = {**report[key]["variants"], **value["variants"]}
        report[key] = value
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def print_table(report: dict[str, Any]) -> None:
    print(
        "\n| code | PDFs | chunks | seconds | chunks/s | parse | chunk | embed | db | index "
        "| CPU s | chunks/CPU s | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, r in report["variants"].items():
        s = r["stage_seconds"]
        print(
            f"| {label} | {r['indexed']}/{r['documents']} | {r['chunks']} | {r['seconds']} "
            f"| {r['chunks_per_s']} | {s.get('parse', '-')} | {s.get('chunk', '-')} "
            f"| {s.get('embed', '-')} | {s.get('db', '-')} | {s.get('index', '-')} "
            f"| {r['cpu_seconds']} | {r['chunks_per_cpu_s']} "
            f"| {r['load_average_before'][0]}→{r['load_average_after'][0]} |"
        )


if __name__ == "__main__":
    main()
