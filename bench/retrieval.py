"""Retrieval quality and speed of the knowledge base, next to bm25s as the keyword anchor.

    .venv/bin/python bench/retrieval.py            # everything (first run embeds ~6k texts)
    .venv/bin/python bench/retrieval.py --quick    # skip the 100k latency and ingestion parts
    .venv/bin/python bench/retrieval.py --docs-only  # only the real documents (c), (d) below

Quality (BEIR-style: nDCG@10 with graded gains, recall@10, recall@100) on two sets:
  (a) MS MARCO subset (../shared/data/retrieval/msmarco: 5,000 passages, 43 judged queries);
  (b) a Chinese known-item set built here from ../shared/data/text/zh (唐诗, 宋词, 诗经: one
      relevant poem per query; queries are title + author, a line with characters dropped or
      swapped for near-synonyms, or paraphrases written by hand — never a verbatim substring).
Real documents (bench/retrieval_docs.py, run first): (c) financebench, 24 SEC filings and
releases, evidence-page hit@1/@5 and document hit@5 by document type, with baselines bm25s and
MiniLM over pypdf's page texts; (d) zh_docs, 15 Chinese documents, passage hit@1/@5, with a
character-bigram BM25 baseline.
Methods: bm25s (anchor), our BM25 (jieba + PyStemmer), dense (all-MiniLM-L6-v2, exact), plain
RRF (k=60) of the two, and our hybrid (exact scores of every candidate under both methods,
min-max normalised, weighted). The hybrid's weight is tuned on one half of the queries (even
positions after a seeded shuffle) and every method is reported on the other half.

Speed: query latency p50/p99 at 5k chunks (real) and 100k chunks (5k real + 95k synthetic
vectors and texts; HNSW, whose recall@10 against exact search is measured with real query
vectors), and ingestion throughput in chunks/s with and without embedding.

Embeddings are cached on disk (bench/results/cache/, git-ignored) by content hash.
Writes bench/results/retrieval.json. Timings on a shared 2-core machine are noisy: re-measure
on a quiet machine before quoting them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache" / "embeddings.sqlite"
sys.path.insert(0, str(ROOT / "src"))

import retrieval_docs  # noqa: E402  (beside this file)
from aigc.knowledge.embed import Embedder  # noqa: E402
from aigc.knowledge.index import KbIndex, tokenize  # noqa: E402
from aigc.knowledge.meanings import Meanings, meanings_for  # noqa: E402
from aigc.knowledge.retrieve import (  # noqa: E402
    Candidates,
    by_meaning,
    candidates_from,
    fuse,
    fuse_meaning,
)

Ranking = list[str]  # document ids, best first
Qrels = dict[str, dict[str, int]]  # query id → document id → grade


# --- metrics -------------------------------------------------------------------------------


def ndcg_at(ranking: Ranking, grades: dict[str, int], k: int = 10) -> float:
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranking: Ranking, grades: dict[str, int], k: int) -> float:
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def evaluate(runs: dict[str, Ranking], qrels: Qrels, qids: list[str]) -> dict[str, float]:
    n = len(qids)
    return {
        "ndcg@10": sum(ndcg_at(runs[q], qrels[q]) for q in qids) / n,
        "recall@10": sum(recall_at(runs[q], qrels[q], 10) for q in qids) / n,
        "recall@100": sum(recall_at(runs[q], qrels[q], 100) for q in qids) / n,
    }


def halves(qids: list[str]) -> tuple[list[str], list[str]]:
    order = sorted(qids)
    random.Random(13).shuffle(order)
    return order[0::2], order[1::2]


# --- data sets -----------------------------------------------------------------------------


def load_msmarco() -> tuple[list[str], list[str], dict[str, str], Qrels]:
    root = DATA / "retrieval" / "msmarco"
    ids, texts = [], []
    with open(root / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            ids.append(d["_id"])
            texts.append(d["text"])
    qrels: Qrels = {}
    for line in (root / "qrels" / "test.tsv").read_text().splitlines():
        qid, pid, grade = line.split("\t")
        qrels.setdefault(qid, {})[pid] = int(grade)
    queries = {}
    with open(root / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return ids, texts, queries, qrels


# Near-synonym swaps for the "line with characters changed" queries (both scripts).
SYNONYMS = {
    "山": "峰",
    "水": "江",
    "月": "月亮",
    "花": "华",
    "風": "风",
    "雲": "云",
    "日": "阳",
    "春": "青春",
    "愁": "忧",
    "歸": "回",
    "归": "回",
    "見": "看",
    "见": "看",
    "君": "你",
    "人": "人们",
    "夜": "晚",
    "酒": "醪",
    "淚": "泪",
    "落": "坠",
    "思": "念",
    "心": "意",
    "長": "长",
    "長安": "京城",
    "天": "苍天",
    "白": "素",
    "舟": "船",
    "寒": "冷",
    "声": "音",
}
PARAPHRASES = [
    ("tangshi300", "靜夜思", "李白", "夜里看见床前的月光像地上的霜，抬头望月低头想念家乡"),
    ("tangshi300", "春曉", "孟浩然", "春天睡得香不知天亮，到处听到鸟叫，夜里风雨不知吹落多少花"),
    ("tangshi300", "登鸛雀樓", "王之渙", "太阳靠着山落下，黄河流进大海，想看得更远就再上一层楼"),
    ("tangshi300", "相思", "王維", "红豆生长在南方，春天长出几枝，劝你多采一些，最能寄托思念"),
    ("tangshi300", "春望", "杜甫", "国家破碎山河还在，城里春天草木茂盛，感伤时局看到花也流泪"),
    ("tangshi300", "黃鶴樓", "崔顥", "古人骑着黄鹤走了，这里只剩空空的楼，白云千年悠悠飘着"),
    (
        "songci300",
        "水调歌头",
        "苏轼",
        "明月什么时候出现，端着酒杯问青天，但愿人长久，千里之外共赏月",
    ),
    ("songci300", "江神子", "苏轼", "十年生死相隔，不去想也难忘记，千里之外的孤坟无处诉说凄凉"),
    ("songci300", "声声慢", "李清照", "到处寻找却冷清凄惨，黄昏时细雨打在梧桐叶上，怎一个愁字了得"),
    ("songci300", "雨霖铃", "柳永", "秋蝉叫得凄凉，傍晚在长亭送别，今夜酒醒在杨柳岸边看晨风残月"),
    (
        "songci300",
        "青玉案",
        "辛弃疾",
        "元宵夜花灯像千树开花，人群里找她千百次，回头她却在灯火稀落处",
    ),
    ("shijing", "关雎", "", "水鸟在河中小洲上鸣叫，美丽贤淑的女子是君子的好配偶"),
    ("shijing", "蒹葭", "", "芦苇青青白露结成霜，我思念的那个人在河水的另一边"),
    ("shijing", "硕鼠", "", "大老鼠啊大老鼠，不要再吃我的黍，我要离开你去那快乐的地方"),
    ("shijing", "桃夭", "", "桃树长得茂盛花朵鲜艳，这个姑娘出嫁了，让夫家和顺美满"),
    ("shijing", "采薇", "", "从前出征时杨柳依依，如今回来时雨雪纷纷，路途漫长又饥又渴"),
]


def load_poems() -> list[dict[str, str]]:
    poems = []
    for source in ("tangshi300", "songci300", "shijing"):
        for n, p in enumerate(json.loads((DATA / "text" / "zh" / f"{source}.json").read_text())):
            title = p.get("title") or p.get("rhythmic") or ""
            author = p.get("author") or ""
            lines = p.get("paragraphs") or p.get("content") or []
            section = p.get("section", "")
            poems.append(
                {
                    "id": f"{source}-{n}",
                    "source": source,
                    "title": title,
                    "author": author or f"诗经·{section}",
                    "lines": lines,
                    "text": f"{title}\n{author or '诗经 ' + section}\n" + "\n".join(lines),
                }
            )
    return poems


def perturb(line: str, rng: random.Random) -> str:
    """Drop one character and swap one for a near-synonym (or drop two when none fits)."""
    chars = list(re.sub(r"[，。！？；、：\s]", "", line))
    swappable = [i for i, c in enumerate(chars) if c in SYNONYMS]
    if swappable:
        i = rng.choice(swappable)
        chars[i] = SYNONYMS[chars[i]]
        drops = 1
    else:
        drops = 2
    for _ in range(drops):
        if len(chars) > 4:
            chars.pop(rng.randrange(1, len(chars) - 1))
    return "".join(chars)


def chinese_known_items() -> tuple[list[str], list[str], dict[str, str], Qrels]:
    poems = load_poems()
    rng = random.Random(7)
    queries: dict[str, str] = {}
    qrels: Qrels = {}

    def add(kind: str, poem: dict[str, str], text: str) -> None:
        assert text not in poem["text"], (kind, text)  # never a verbatim substring
        qid = f"{kind}-{len(queries)}"
        queries[qid] = text
        qrels[qid] = {poem["id"]: 1}

    sample = rng.sample(poems, 160)
    for poem in sample[:80]:
        add("title_author", poem, f"{poem['author']}的《{poem['title']}》")
    for poem in sample[80:]:
        lines = [s for s in re.split(r"[，。！？；]", "".join(poem["lines"])) if len(s) >= 5]
        if lines:
            add("line", poem, perturb(rng.choice(lines), rng))
    for source, title, author, text in PARAPHRASES:
        match = [
            p
            for p in poems
            if p["source"] == source
            and title in p["title"]
            and (not author or p["author"] == author)
        ]
        assert match, (source, title)
        add("paraphrase", match[0], text)
    return [p["id"] for p in poems], [p["text"] for p in poems], queries, qrels


# --- methods -------------------------------------------------------------------------------


def bm25s_runs(texts: list[str], ids: list[str], queries: dict[str, str], zh: bool) -> dict:
    import bm25s

    if zh:  # bm25s has no Chinese tokenizer: give it our jieba tokens
        retriever = bm25s.BM25()
        retriever.index([tokenize(t) for t in texts], show_progress=False)
        runs = {}
        for qid, q in queries.items():
            docs, _ = retriever.retrieve([tokenize(q) or ["∅"]], k=100, show_progress=False)
            runs[qid] = [ids[i] for i in docs[0]]
        return runs
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    runs = {}
    for qid, q in queries.items():
        tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        docs, _ = retriever.retrieve(tokens, k=100, show_progress=False)
        runs[qid] = [ids[i] for i in docs[0]]
    return runs


def hybrid_scores(
    index: KbIndex, query: str, vector: np.ndarray, mode: str, n: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates with their exact dense and BM25 scores — the code path search() uses."""
    found = Candidates()
    candidates_from("kb", index, query, vector, None, mode, n, found)
    return (
        np.asarray(found.chunk_ids, dtype=np.int64),
        np.asarray(found.dense, dtype=np.float32),
        np.asarray(found.keyword, dtype=np.float32),
    )


def rank(rows: np.ndarray, scores: np.ndarray, ids: list[str], k: int = 100) -> Ranking:
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[int(rows[i])] for i in order]


def rrf(a: Ranking, b: Ranking, k: int = 60) -> Ranking:
    score: dict[str, float] = {}
    for run in (a, b):
        for i, d in enumerate(run):
            score[d] = score.get(d, 0.0) + 1 / (k + i + 1)
    return sorted(score, key=lambda d: -score[d])[:100]


def quality(
    name: str,
    ids: list[str],
    texts: list[str],
    queries: dict[str, str],
    qrels: Qrels,
    embedder: Embedder,
    zh: bool,
) -> dict:
    t0 = time.perf_counter()
    vectors = embedder.embed(texts)
    qids = list(queries)
    qvecs = dict(zip(qids, embedder.embed([queries[q] for q in qids]), strict=True))
    print(f"[{name}] embedded {len(texts)} texts in {time.perf_counter() - t0:.0f}s", flush=True)
    index = KbIndex(np.arange(len(ids)), ["doc"] * len(ids), [tokenize(t) for t in texts], vectors)
    runs: dict[str, dict[str, Ranking]] = {"bm25s (anchor)": bm25s_runs(texts, ids, queries, zh)}
    kw, dense, both = {}, {}, {}
    for q in qids:
        rows, _, k = hybrid_scores(index, queries[q], qvecs[q], "keyword")
        kw[q] = rank(rows, k, ids)
        rows, d, _ = hybrid_scores(index, queries[q], qvecs[q], "dense")
        dense[q] = rank(rows, d, ids)
        both[q] = hybrid_scores(index, queries[q], qvecs[q], "hybrid")
    runs["our BM25"] = kw
    runs["dense (MiniLM)"] = dense
    runs["plain RRF k=60"] = {q: rrf(kw[q], dense[q]) for q in qids}
    tune, test = halves(qids)

    def hybrid_run(weight: float) -> dict[str, Ranking]:
        return {q: rank(both[q][0], fuse(both[q][1], both[q][2], weight), ids) for q in qids}

    grid = [round(w * 0.05, 2) for w in range(21)]
    tuned = max(
        grid, key=lambda w: (evaluate(hybrid_run(w), qrels, tune)["ndcg@10"], -abs(w - 0.5))
    )
    runs[f"our hybrid (w={tuned})"] = hybrid_run(tuned)
    table = {m: evaluate(r, qrels, test) for m, r in runs.items()}
    kinds = sorted({q.split("-")[0] for q in test}) if zh else []
    by_kind = {
        kind: {
            m: evaluate(r, qrels, [q for q in test if q.startswith(kind)])["ndcg@10"]
            for m, r in runs.items()
        }
        for kind in kinds
    }
    return {
        "corpus": len(ids),
        "queries": len(qids),
        "tuning_queries": len(tune),
        "reported_queries": len(test),
        "tuned_dense_weight": tuned,
        "methods": table,
        "ndcg@10_by_query_kind": by_kind,
        "index": index,
        "query_vectors": qvecs,
    }


# --- speed ---------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def time_queries(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    samples = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


def latency(index: KbIndex, queries: list[str], qvecs: list[np.ndarray], weight: float) -> dict:
    def one(i: int) -> None:
        _, d, k = hybrid_scores(index, queries[i % len(queries)], qvecs[i % len(qvecs)], "hybrid")
        fused = fuse(d, k, weight)
        np.argsort(-fused)[:10]

    for i in range(5):
        one(i)
    p50, p99 = time_queries(one, 200)
    return {"chunks": len(index), "faiss": type(index.faiss).__name__, "p50_ms": p50, "p99_ms": p99}


def synthetic_100k(base: KbIndex, texts: list[str], rng: np.random.Generator) -> KbIndex:
    """5k real rows plus 95k synthetic: real vectors plus noise, texts of sampled words."""
    n_extra = 100_000 - len(base)
    assert base.vectors is not None
    picks = rng.integers(0, len(base), n_extra)
    noise = rng.normal(0, 0.05, (n_extra, base.vectors.shape[1])).astype(np.float32)
    extra = base.vectors[picks] + noise
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    words = np.asarray([w for t in texts[:2000] for w in t.split()])
    extra_tokens = [tokenize(" ".join(rng.choice(words, 50))) for _ in range(n_extra)]
    vectors = np.vstack([base.vectors, extra])
    t0 = time.perf_counter()
    index = KbIndex(np.arange(100_000), ["doc"] * 100_000, base.tokens + extra_tokens, vectors)
    print(f"[100k] index built in {time.perf_counter() - t0:.0f}s", flush=True)
    return index


def ann_recall(index: KbIndex, queries: list[np.ndarray]) -> float:
    import faiss

    exact = faiss.IndexFlatIP(index.vectors.shape[1])  # type: ignore[union-attr]
    exact.add(index.vectors)
    q = np.stack(queries).astype(np.float32)
    _, truth = exact.search(q, 10)
    found = []
    for i in range(len(q)):
        found.append(set(index.vector(q[i], 10).rows.tolist()))
    return float(np.mean([len(found[i] & set(truth[i])) / 10 for i in range(len(q))]))


def ingestion_throughput(texts: list[str], n_dense: int) -> dict:
    from aigc.access import Principal
    from aigc.config import Settings
    from aigc.infra.db import Database
    from aigc.infra.schema import Tenant
    from aigc.knowledge import bases
    from aigc.knowledge.ingest import add_document, ingest_documents
    from aigc.tables import Base

    out = {}
    for label, dense, subset in (
        ("without embedding", False, texts),
        ("with embedding", True, texts[:n_dense]),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/kb.db")
            Base.metadata.create_all(db.engine)
            admin = Principal(tenant_id="t", role="admin", key_id="k")
            with db.session() as s:
                s.add(Tenant(id="t", name="t"))
            settings = Settings(data_dir=Path(tmp) / "data")  # a cold embedding cache
            data = "\n".join(json.dumps({"_id": str(i), "text": t}) for i, t in enumerate(subset))
            with db.session() as s:
                kb = bases.create_kb(s, admin, "bench", dense=dense).id
                doc = add_document(s, settings, admin, kb, "corpus.jsonl", [data.encode()])
            t0 = time.perf_counter()
            result = ingest_documents(db, settings, "t", kb, [doc.document.id])
            took = time.perf_counter() - t0
            out[label] = {
                "chunks": result["chunks"],
                "seconds": took,
                "chunks_per_s": result["chunks"] / took,
            }
            db.dispose()
    return out


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="quality and 5k latency only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--docs-only",
        action="store_true",
        help="only the real-document sets (financebench, zh_docs), merged into the last results",
    )
    args = parser.parse_args()
    if not (DATA / "retrieval" / "msmarco").exists():
        sys.exit("../shared/data is absent: nothing to measure")
    import faiss
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    embedder = Embedder(cache_path=CACHE)
    report: dict = {
        "machine": {
            "nproc": os.cpu_count(),
            "threads": args.threads,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "note": "shared, noisy machine: re-measure timings on a quiet one",
    }
    if args.docs_only:
        previous = RESULTS / "retrieval.json"
        if previous.exists():
            report = json.loads(previous.read_text()) | {"machine": report["machine"]}
    report |= real_documents(embedder)
    print_documents(report)
    if args.docs_only:
        save(report)
        return
    ids, texts, queries, qrels = load_msmarco()
    ms = quality("msmarco", ids, texts, queries, qrels, embedder, zh=False)
    zids, ztexts, zqueries, zqrels = chinese_known_items()
    zh = quality("zh known-item", zids, ztexts, zqueries, zqrels, embedder, zh=True)
    for name, res in (("msmarco", ms), ("zh_known_item", zh)):
        report[name] = {k: v for k, v in res.items() if k not in ("index", "query_vectors")}
    qtexts, qvecs = list(queries.values()), list(ms["query_vectors"].values())
    weight = ms["tuned_dense_weight"]
    speed = {"5k": latency(ms["index"], qtexts, qvecs, weight)}
    speed["query_embedding"] = dict(
        zip(
            ("p50_ms", "p99_ms"),
            time_queries(lambda i: embedder.model().encode([f"{qtexts[i % len(qtexts)]} {i}"]), 50),
            strict=True,
        )
    )
    if not args.quick:
        big = synthetic_100k(ms["index"], texts, np.random.default_rng(0))
        probe = qvecs + [v for v in ms["index"].vectors[:200]]  # type: ignore[index]
        speed["100k"] = latency(big, qtexts, qvecs, weight) | {
            "ann_recall@10_vs_exact": ann_recall(big, probe)
        }
        report["ingestion"] = ingestion_throughput(texts, n_dense=500)
    report["latency"] = speed
    print_table(report)
    print_documents(report)
    save(report)


def save(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retrieval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def meanings_reader() -> Meanings:
    """Chinese word meanings in the server's default embedder (MiniLM, int8 ONNX)."""
    embedder = Embedder(cache_path=CACHE, backend="onnx-int8", onnx_dir=RESULTS / "cache" / "onnx")
    return meanings_for(embedder)


def known_item_default_search(reader: Meanings) -> dict:
    """The Chinese known-item set (b) through the server's default search for a Chinese
    query (keyword candidates; meanings where ``meanings.trust`` lets them count) against our
    BM25 alone: nDCG@10 on the reported half. Classical poems are read character by
    character, so meanings should not count here (``weighted_queries`` says for how many)."""
    ids, texts, queries, qrels = chinese_known_items()
    index = KbIndex(np.arange(len(ids)), ["doc"] * len(ids), [tokenize(t) for t in texts], None)
    keyword_run, default_run, weighted = {}, {}, 0
    for qid, query in queries.items():
        rows, _, keyword = hybrid_scores(index, query, None, "keyword")  # type: ignore[arg-type]
        keyword_run[qid] = rank(rows, keyword, ids)
        dense, weight = by_meaning(reader, query, [texts[i] for i in rows], keyword)
        default_run[qid] = rank(rows, fuse_meaning(dense, keyword, weight), ids)
        weighted += weight > 0
    _, test = halves(list(queries))
    return {
        "reported_queries": len(test),
        "ndcg@10": {
            "our BM25": evaluate(keyword_run, qrels, test)["ndcg@10"],
            "default search (BM25 + meanings where trusted)": evaluate(default_run, qrels, test)[
                "ndcg@10"
            ],
        },
        "weighted_queries": weighted,
    }


def real_documents(embedder: Embedder) -> dict:
    """financebench and zh_docs (bench/retrieval_docs.py), when the data is present; and the
    Chinese known-item set through the default Chinese search (meanings are new there)."""
    reader = meanings_reader()
    out: dict = {"zh_known_item_default_search": known_item_default_search(reader)}
    if (DATA / "retrieval" / "zh_docs").exists():
        out["zh_docs"] = retrieval_docs.zh_docs(DATA, RESULTS / "cache", reader)
    if (DATA / "retrieval" / "financebench").exists():
        out["financebench"] = retrieval_docs.financebench(DATA, RESULTS / "cache", embedder)
    return out


def print_documents(report: dict) -> None:
    if "financebench" in report:
        fb = report["financebench"]
        print(
            f"\nfinancebench: {fb['documents']} PDFs, {fb['pages']} pages, {fb['chunks']} chunks, "
            f"{fb['questions']} questions"
        )
        print("| method | page hit@1 | page hit@5 | document hit@5 |\n|---|---|---|---|")
        for method, m in fb["methods"].items():
            rows = [(method, m)] + [(f"  {t}", by) for t, by in m["by_doc_type"].items()]
            for label, r in rows:
                cells = (r["page_hit@1"], r["page_hit@5"], r["doc_hit@5"])
                print(f"| {label} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    if "zh_known_item_default_search" in report:
        known = report["zh_known_item_default_search"]
        print(f"\nChinese known-item, {known['reported_queries']} reported queries, nDCG@10:")
        for method, value in known["ndcg@10"].items():
            print(f"  {method}: {value:.4f}")
        print(f"  queries where meanings counted: {known['weighted_queries']}")
    if "zh_docs" in report:
        zh = report["zh_docs"]
        print(f"\nzh_docs: {zh['files']} files, {zh['questions']} questions")
        print(
            "| method | passage hit@1 | passage hit@5 | file hit@5 | tuning half @1 / @5 "
            "| reported half @1 / @5 |\n|---|---|---|---|---|---|"
        )
        for method, m in zh["methods"].items():
            halves_ = [m[h] for h in ("tuning_half_hit@1/@5", "reported_half_hit@1/@5")]
            print(
                f"| {method} | {m['passage_hit@1']:.2f} | {m['passage_hit@5']:.2f} | "
                f"{m['file_hit@5']:.2f} | "
                + " | ".join(f"{a:.2f} / {b:.2f}" for a, b in halves_)
                + " |"
            )


def print_table(report: dict) -> None:
    for name in ("msmarco", "zh_known_item"):
        r = report[name]
        print(
            f"\n{name}: {r['corpus']} docs, tuned on {r['tuning_queries']} queries, "
            f"reported on {r['reported_queries']}"
        )
        print("| method | nDCG@10 | recall@10 | recall@100 |\n|---|---|---|---|")
        for method, m in r["methods"].items():
            print(
                f"| {method} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | {m['recall@100']:.3f} |"
            )
        for kind, by in r["ndcg@10_by_query_kind"].items():
            print(f"  {kind}: " + ", ".join(f"{m} {v:.3f}" for m, v in by.items()))
    print("\n| latency | chunks | index | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for label, s in report["latency"].items():
        if label == "query_embedding":
            print(f"| query embedding (MiniLM) | - | - | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} |")
        else:
            extra = (
                f" (ANN recall@10 {s['ann_recall@10_vs_exact']:.3f})"
                if "ann_recall@10_vs_exact" in s
                else ""
            )
            cells = [f"hybrid search {label}{extra}", s["chunks"], s["faiss"]]
            cells += [f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}"]
            print("| " + " | ".join(str(c) for c in cells) + " |")
    for label, s in report.get("ingestion", {}).items():
        rate = s["chunks_per_s"]
        took = s["seconds"]
        print(f"ingestion {label}: {s['chunks']} chunks in {took:.1f}s = {rate:.0f} chunks/s")


if __name__ == "__main__":
    main()
