"""Issue 20 (c): knowledge search at 100k chunks, pgvector HNSW in PostgreSQL against the
in-process FAISS HNSW, with recall@10 against exact search for both.

    .venv/bin/python bench/scale_search.py           # 100k chunks, 300 queries
    .venv/bin/python bench/scale_search.py --quick   # 20k chunks, 100 queries

The vectors are **synthetic**: 384-dimensional (MiniLM's size), normalised, drawn around
2,000 random centres (real embeddings cluster; uniform random vectors in 384 dimensions are a
harder, unrealistic case for any graph index). Queries are perturbed copies of stored vectors.
Embedding the query is not timed (it is the same for both).

pgvector: a throwaway PostgreSQL (tests/services.py, the system's pgvector; or
``AIGC_BENCH_POSTGRES_URL``) migrated to the head, the vectors stored by
``knowledge.pgvectors.write`` with their chunk rows, and each query is
``knowledge.pgvectors.nearest`` — the call a search makes: tenant, KB and documents in the
WHERE, ``hnsw.ef_search`` and iterative scan set per transaction, one round trip per
statement over loopback. FAISS: ``knowledge.index.build_faiss`` (HNSW at this size, M 32,
efConstruction 80, efSearch 96), searched in the benchmark's process.

``measure(quick)`` returns the result; ``table(result)`` formats it; ``bench/scale.py`` merges
it into bench/results/scale.json. Run alone it writes bench/results/scale-search.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.benchlib import machine, percentile  # noqa: E402

DIM = 384
CENTRES = 2000
SPREAD = 0.35  # noise around a centre, per dimension, relative to the centre's unit length
DOCS = 20  # chunks spread over this many documents; a query may read all of them


def synthetic(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((n, DIM)).astype(np.float32) * (SPREAD / np.sqrt(DIM))
    vectors = centres[rng.integers(0, CENTRES, n)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def queries_from(vectors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    picked = vectors[rng.integers(0, len(vectors), n)]
    q = picked + rng.standard_normal(picked.shape).astype(np.float32) * (SPREAD / np.sqrt(DIM))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1)[:, :10]


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    pairs = zip(found, truth, strict=True)
    return float(np.mean([len(set(f) & set(t.tolist())) / 10 for f, t in pairs]))


def summary(latencies_s: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in latencies_s]
    return {"p50_ms": round(percentile(ms, 50), 3), "p99_ms": round(percentile(ms, 99), 3)}


def run_faiss(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from aigc.knowledge.index import HNSW_EF_SEARCH, HNSW_FROM, build_faiss

    start = time.perf_counter()
    index = build_faiss(vectors)
    built = time.perf_counter() - start
    kind = "HNSW" if len(vectors) >= HNSW_FROM else "flat (exact)"
    found, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, rows = index.search(q.reshape(1, -1), 10)
        times.append(time.perf_counter() - t0)
        found.append(rows[0].tolist())
    return {
        "index": f"faiss {kind}, M 32, efSearch {HNSW_EF_SEARCH}",
        "build_s": round(built, 1),
        "recall_at_10": round(recall(found, truth), 4),
        **summary(times),
    }


def run_pgvector(
    url: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray
) -> dict[str, Any]:
    from sqlalchemy import insert, select, text

    from aigc.infra import migrate
    from aigc.infra.db import Database
    from aigc.infra.schema import Tenant
    from aigc.knowledge import pgvectors
    from aigc.knowledge.tables import KbChunk, KbDocument, KnowledgeBase

    migrate.upgrade(url)
    db = Database(url)
    docs = [f"doc_{i}" for i in range(DOCS)]
    owner = [docs[i % DOCS] for i in range(len(vectors))]
    start = time.perf_counter()
    with db.session() as s:
        s.add(Tenant(id="t_bench", name="bench"))
        s.add(KnowledgeBase(id="kb_bench", tenant_id="t_bench", name="bench", index_version=0))
        s.flush()
        for d in docs:
            s.add(
                KbDocument(id=d, tenant_id="t_bench", kb_id="kb_bench", filename=d, status="ready")
            )
        s.flush()
    ids: list[int] = []
    for lo in range(0, len(vectors), 5000):
        hi = min(lo + 5000, len(vectors))
        with db.session() as s:
            s.execute(
                insert(KbChunk),
                [
                    {
                        "tenant_id": "t_bench",
                        "kb_id": "kb_bench",
                        "document_id": owner[i],
                        "ordinal": i,
                        "text": "x",
                    }
                    for i in range(lo, hi)
                ],
            )
            part = list(
                s.scalars(
                    select(KbChunk.id)
                    .where(KbChunk.ordinal >= lo, KbChunk.ordinal < hi)
                    .order_by(KbChunk.ordinal)
                )
            )
            rows = list(zip(part, owner[lo:hi], strict=True))
            pgvectors.write(s, "t_bench", "kb_bench", rows, vectors[lo:hi], "bench")
            ids.extend(part)
    loaded = time.perf_counter() - start
    # the migration made the HNSW index on the empty table; time a rebuild on the full one
    start = time.perf_counter()
    with db.engine.connect() as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        conn.execute(text("REINDEX INDEX ix_kb_vectors_hnsw"))
        conn.execute(text("ANALYZE kb_vectors"))
        conn.commit()
    built = time.perf_counter() - start
    position = {cid: i for i, cid in enumerate(ids)}
    found, times = [], []
    with db.session() as s:  # warm the index pages once
        pgvectors.nearest(s, "t_bench", ["kb_bench"], docs, queries[0], "bench", 10)
    for q in queries:
        with db.session() as s:
            t0 = time.perf_counter()
            hits = pgvectors.nearest(s, "t_bench", ["kb_bench"], docs, q, "bench", 10)
            times.append(time.perf_counter() - t0)
        found.append([position[c] for c, _ in hits])
    with db.session() as s:
        plan = "\n".join(
            s.scalars(
                text(
                    "EXPLAIN SELECT chunk_id FROM kb_vectors "
                    "ORDER BY embedding <#> CAST(:q AS vector) LIMIT 10"
                ),
                {"q": "[" + ",".join(f"{x:.6f}" for x in queries[0]) + "]"},
            )
        )
    db.dispose()
    return {
        "index": f"pgvector HNSW (m 16, ef_construction 64), ef_search {pgvectors.EF_SEARCH}",
        "load_s": round(loaded, 1),
        "build_s": round(built, 1),
        "uses_hnsw": "ix_kb_vectors_hnsw" in plan,
        "recall_at_10": round(recall(found, truth), 4),
        **summary(times),
    }


def _postgres() -> tuple[str, Any]:
    """A database URL and the throwaway server to stop afterwards (None when given one)."""
    given = os.environ.get("AIGC_BENCH_POSTGRES_URL")
    if given:
        return given, None
    from tests import services

    bindir = services.postgres_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed; set AIGC_BENCH_POSTGRES_URL")
    server = services.Postgres(bindir).start()
    return server.url, server


def measure(quick: bool) -> dict[str, Any]:
    n, n_queries = (20_000, 100) if quick else (100_000, 300)
    rng = np.random.default_rng(20)
    vectors = synthetic(n, rng)
    queries = queries_from(vectors, n_queries, rng)
    truth = exact_top10(vectors, queries)
    faiss_result = run_faiss(vectors, queries, truth)
    url, server = _postgres()
    try:
        pg_result = run_pgvector(url, vectors, queries, truth)
    finally:
        if server is not None:
            server.stop()
    return {
        "benchmark": "scale-search",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": machine(["numpy", "faiss"]),
        "chunks": n,
        "queries": n_queries,
        "dim": DIM,
        "vectors": f"synthetic: {CENTRES} random centres, noise {SPREAD}, normalised",
        "faiss": faiss_result,
        "pgvector": pg_result,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        f"knowledge search, {result['chunks']:,} chunks ({result['vectors']}), "
        f"{result['queries']} queries, top 10",
        "",
        "| index | p50 ms | p99 ms | recall@10 vs exact | build s |",
        "|---|---|---|---|---|",
    ]
    for key in ("pgvector", "faiss"):
        r = result[key]
        rows.append(
            f"| {r['index']} | {r['p50_ms']} | {r['p99_ms']} | {r['recall_at_10']} | "
            f"{r['build_s']} |"
        )
    load = result["machine"].get("load_average")
    rows.append("")
    rows.append(f"machine: {result['machine'].get('nproc')} cores, load average {load}")
    return "\n".join(rows)


def main() -> None:
    quick = "--quick" in sys.argv
    result = measure(quick)
    print(table(result))
    out = ROOT / "bench" / "results" / "scale-search.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
