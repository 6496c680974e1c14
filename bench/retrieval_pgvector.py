"""Retrieval quality on PostgreSQL with pgvector against today's in-process path, on the sets
of bench/retrieval.py (MS MARCO subset, Chinese known-item).

    .venv/bin/python bench/retrieval_pgvector.py

Both sides get the same texts and the same vectors (the configured embedder, as a search
embeds them) and run ``retrieve.candidates_from``, the code search() uses:
  - in-process: a ``KbIndex`` (BM25 in memory, FAISS exact inner product at this size), as
    on SQLite;
  - pgvector: the texts stored as chunk rows with their vectors in a throwaway PostgreSQL
    (``pgvectors.write``), the keyword index rebuilt from those rows by ``db_index`` and the
    dense candidates from pgvector's HNSW in SQL (``DbIndex``).
Each method is scored on the reporting half of the queries (bench/retrieval.py's halves); the
hybrid's weight is the one retrieve.py uses (DENSE_WEIGHT by script). Writes
bench/results/retrieval_pgvector.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench.benchlib import machine  # noqa: E402

import retrieval  # noqa: E402  (beside this file)


def rankings(index: Any, ids_of: Any, queries: dict[str, str], qvecs: dict, weight: float) -> dict:
    """BM25, dense and hybrid rankings of every query through ``candidates_from``."""
    from aigc.knowledge.retrieve import fuse

    runs: dict[str, dict[str, list[str]]] = {"our BM25": {}, "dense": {}, "our hybrid": {}}
    for q, text in queries.items():
        rows, _, k = retrieval.hybrid_scores(index, text, qvecs[q], "keyword")
        runs["our BM25"][q] = [ids_of(rows[i]) for i in np.argsort(-k, kind="stable")[:100]]
        rows, d, _ = retrieval.hybrid_scores(index, text, qvecs[q], "dense")
        runs["dense"][q] = [ids_of(rows[i]) for i in np.argsort(-d, kind="stable")[:100]]
        rows, d, k = retrieval.hybrid_scores(index, text, qvecs[q], "hybrid")
        fused = fuse(d, k, weight)
        runs["our hybrid"][q] = [ids_of(rows[i]) for i in np.argsort(-fused, kind="stable")[:100]]
    return runs


def on_postgres(url: str, ids: list[str], texts: list[str], vectors: np.ndarray, sig: str) -> Any:
    """Store the set as one KB's chunks with their vectors; return (session, index, id map)."""
    from sqlalchemy import insert, select, text

    from aigc.infra import migrate
    from aigc.infra.db import Database
    from aigc.infra.schema import Tenant
    from aigc.knowledge import db_index, pgvectors
    from aigc.knowledge.tables import KbChunk, KbDocument, KnowledgeBase

    migrate.upgrade(url)
    db = Database(url)
    db_index.forget()  # the same KB id as the set before: not its cached keyword index
    with db.session() as s:
        s.add(Tenant(id="t", name="t"))
        s.add(KnowledgeBase(id="kb", tenant_id="t", name="kb", index_version=1))
        s.flush()
        s.add(KbDocument(id="doc", tenant_id="t", kb_id="kb", filename="doc", status="ready"))
        s.flush()
        s.execute(
            insert(KbChunk),
            [
                {"tenant_id": "t", "kb_id": "kb", "document_id": "doc", "ordinal": i, "text": t}
                for i, t in enumerate(texts)
            ],
        )
        chunk_ids = list(s.scalars(select(KbChunk.id).order_by(KbChunk.ordinal)))
        pgvectors.write(s, "t", "kb", [(c, "doc") for c in chunk_ids], vectors, sig)
        s.execute(text("ANALYZE kb_vectors"))
    session = db._sessions()  # one read transaction for the whole evaluation
    index = db_index.db_index(session, "t", "kb", True, sig)
    position = {c: ids[i] for i, c in enumerate(chunk_ids)}
    return db, session, index, lambda cid: position[int(cid)]


def compare(name: str, url: str, data: tuple, zh: bool) -> dict[str, Any]:
    from aigc.config import Settings
    from aigc.knowledge.index import KbIndex, tokenize
    from aigc.knowledge.ingest import embedder_for
    from aigc.knowledge.retrieve import DENSE_WEIGHT

    ids, texts, queries, qrels = data
    embedder = embedder_for(Settings(data_dir=ROOT / "bench" / "results" / "cache" / "pgv"))
    t0 = time.perf_counter()
    vectors = embedder.embed(texts)
    qids = list(queries)
    qvecs = dict(zip(qids, embedder.embed([queries[q] for q in qids]), strict=True))
    print(f"[{name}] embedded {len(texts)} texts in {time.perf_counter() - t0:.0f}s", flush=True)
    weight = DENSE_WEIGHT["cjk" if zh else "latin"]
    _, test = retrieval.halves(qids)
    local = KbIndex(np.arange(len(ids)), ["doc"] * len(ids), [tokenize(t) for t in texts], vectors)
    here = rankings(local, lambda r: ids[int(r)], queries, qvecs, weight)
    db, session, index, ids_of = on_postgres(url, ids, texts, vectors, embedder.signature)
    try:
        there = rankings(index, ids_of, queries, qvecs, weight)
    finally:
        session.close()
        db.dispose()
    return {
        "corpus": len(ids),
        "reported_queries": len(test),
        "dense_weight": weight,
        "in_process": {m: retrieval.evaluate(r, qrels, test) for m, r in here.items()},
        "pgvector": {m: retrieval.evaluate(r, qrels, test) for m, r in there.items()},
    }


def main() -> None:
    from scale_search import _postgres

    if not (retrieval.DATA / "retrieval" / "msmarco").exists():
        sys.exit("../shared/data is absent: nothing to measure")
    url, server = _postgres()
    report: dict[str, Any] = {"machine": machine(["numpy", "faiss"])}
    try:
        report["msmarco"] = compare("msmarco", url, retrieval.load_msmarco(), zh=False)
        from sqlalchemy import create_engine, text

        engine = create_engine(url)  # a clean database for the second set
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        report["zh_known_item"] = compare(
            "zh known-item", url, retrieval.chinese_known_items(), zh=True
        )
    finally:
        if server is not None:
            server.stop()
    for name in ("msmarco", "zh_known_item"):
        print(f"\n{name} ({report[name]['reported_queries']} reported queries)")
        print(
            "| method | in-process nDCG@10 | pgvector nDCG@10 | in-process R@10 | pgvector R@10 |"
        )
        print("|---|---|---|---|---|")
        for m in report[name]["in_process"]:
            a, b = report[name]["in_process"][m], report[name]["pgvector"][m]
            print(
                f"| {m} | {a['ndcg@10']:.4f} | {b['ndcg@10']:.4f} | "
                f"{a['recall@10']:.4f} | {b['recall@10']:.4f} |"
            )
    out = ROOT / "bench" / "results" / "retrieval_pgvector.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
