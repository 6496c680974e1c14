"""Retrieval on real documents, for bench/retrieval.py: financebench (SEC filings) and zh_docs.

financebench (../shared/data/retrieval/financebench: 24 PDFs, 68 questions with 0-based
evidence pages): all 24 documents in one index; a question is a page hit at k when one of the
top k results is from its document and on an evidence page, a document hit at k when one is
from its document. Results are what a grounded answer would be given: chunks for our search,
whole pages for the baselines. Baselines on the same PDFs: bm25s over pypdf's page texts
(English stop words, PyStemmer), and MiniLM (the project's embedder) over the same pages.
Ours: the knowledge base's parse → sections → chunks → context header → index, searched by
``candidates_from`` as the server does. The document-context weight is tuned on one half of
the questions (seeded shuffle) and reported on both; the hybrid's dense weight is the MS MARCO
one (``DENSE_WEIGHT``). Two hybrid rows: "every chunk embedded" is the search as the server
runs it (all 11.5k chunks embedded; candidates from BM25's and the vectors' top 100, both
scores exact for each, fused); the older "dense re-scoring BM25's top 20" embeds only each
question's 20 best chunks by keyword score (kept for comparison: it was the only hybrid row
while embedding everything took hours on a loaded machine).

zh_docs (../shared/data/retrieval/zh_docs: 15 Chinese documents, 36 paraphrased questions):
a result is a hit when it comes from the question's file and holds most of the answer
passage (compared without whitespace: at least half of the passage's characters in common
runs of 4 or more). Baseline, as the data set's README measured it: BM25 (bm25s) over
character bigrams plus Latin words, documents cut into 300-character chunks with whitespace
removed. Ours: the same pipeline as above. MiniLM is English-only (``DENSE_WEIGHT["cjk"] ==
0``), so no chunk vector is used for a Chinese question; the server's default search ranks its
keyword candidates by BM25 and their words' meanings (``retrieve.by_meaning``, CC-CEDICT senses
through MiniLM: knowledge/meanings.py). That row is what a search returns; its weight
(``MEANING_WEIGHT``) was tuned on one half of the questions (seeded shuffle of their ids), so
both halves are reported.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aigc.knowledge import chunk as chunk_module
from aigc.knowledge import context, parse
from aigc.knowledge.chunk import chunk_blocks, token_counter
from aigc.knowledge.embed import Embedder
from aigc.knowledge.index import KbIndex, tokenize
from aigc.knowledge.meanings import Meanings
from aigc.knowledge.retrieve import (
    CANDIDATES,
    CONTEXT_WEIGHT,
    DENSE_WEIGHT,
    MEANING_WEIGHT,
    Candidates,
    by_meaning,
    candidates_from,
    fuse,
    fuse_meaning,
)

CHUNK_TOKENS, OVERLAP_TOKENS = 200, 40  # the settings' defaults (kb_chunk_tokens, ...)


@dataclass
class Unit:
    """One retrievable unit (a chunk or a page): its document, page(s) and text."""

    doc: str
    page: int | None  # 1-based, as the parser numbers pages
    text: str
    indexed: str  # what the index sees (header + text for our chunks)


# --- parsing, cached by content ------------------------------------------------------------


def parsed_blocks(path: Path, cache: Path) -> list[parse.Block]:
    """The knowledge base's blocks of a file (PDF parsing is slow: cached by SHA-256)."""
    data = path.read_bytes()
    key = cache / f"blocks-{hashlib.sha256(data).hexdigest()[:24]}.json"
    if key.exists():
        return [parse.Block(**b) for b in json.loads(key.read_text())]
    blocks = parse.parse_document(data, parse.detect_format(path.name)).blocks
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps([asdict(b) for b in blocks], ensure_ascii=False))
    return blocks


def pdf_outline(path: Path) -> list[parse.Bookmark]:
    """A PDF's bookmarks as ingestion reads them (``pdf_worker.read_outline``; fast, not
    cached)."""
    if parse.detect_format(path.name) != "pdf":
        return []
    from aigc.knowledge.pdf_worker import open_pdf, read_outline

    pdf = open_pdf(path.read_bytes())
    try:
        return [parse.Bookmark(m["level"], m["title"], m["page"]) for m in read_outline(pdf)]
    finally:
        pdf.close()


def pypdf_pages(path: Path, cache: Path) -> list[str]:
    data = path.read_bytes()
    key = cache / f"pypdf-{hashlib.sha256(data).hexdigest()[:24]}.json"
    if key.exists():
        texts: list[str] = json.loads(key.read_text())
        return texts
    from pypdf import PdfReader

    reader = PdfReader(path)
    texts = [(page.extract_text() or "") for page in reader.pages]
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps(texts, ensure_ascii=False))
    return texts


def cached_units(doc: str, path: Path, cache: Path) -> list[Unit]:
    """Chunks as ingestion makes them, with the context header it indexes. Chunking a
    250-page filing takes minutes on a loaded 2-core machine: the chunks are cached by the
    sectioned blocks and the chunker's code."""
    blocks = parsed_blocks(path, cache)
    ctx = context.document_context(blocks, path.name)
    sections = context.assign_sections(blocks, pdf_outline(path))
    code = Path(chunk_module.__file__).read_bytes()
    payload = json.dumps([asdict(b) for b in sections], ensure_ascii=False).encode()
    digest = hashlib.sha256(payload + code + f"{CHUNK_TOKENS}/{OVERLAP_TOKENS}".encode())
    key = cache / f"chunks-{digest.hexdigest()[:24]}.json"
    if key.exists():
        chunks = [chunk_module.Chunk(**c) for c in json.loads(key.read_text())]
    else:
        chunks = chunk_blocks(sections, token_counter(), CHUNK_TOKENS, OVERLAP_TOKENS)
        key.write_text(json.dumps([asdict(c) for c in chunks], ensure_ascii=False))
    return [
        Unit(doc, c.page, c.text, context.indexed_text(context.header(ctx, c.headings), c.text))
        for c in chunks
    ]


# --- searching -----------------------------------------------------------------------------


def embed_in_slices(embedder: Embedder, texts: Sequence[str], label: str) -> np.ndarray:
    """Embed in slices so each slice reaches the cache (a stopped run keeps its work)."""
    out, t0, step = [], time.perf_counter(), 256
    for start in range(0, len(texts), step):
        out.append(embedder.embed(list(texts[start : start + step])))
        done = min(start + step, len(texts))
        rate = done / max(time.perf_counter() - t0, 1e-9)
        print(f"[{label}] embedded {done}/{len(texts)} ({rate:.1f}/s)", flush=True)
    return np.vstack(out) if out else np.zeros((0, 384), dtype=np.float32)


Pool = list[tuple[int, float]]  # (unit index, keyword score), best first


def unit_index(
    units: list[Unit], contexts: dict[str, str], vectors: np.ndarray | None = None
) -> KbIndex:
    """An index of ``units`` as ingestion builds one (each document's context indexed once)."""
    return KbIndex(
        np.arange(len(units)),
        [u.doc for u in units],
        [tokenize(u.indexed) for u in units],
        vectors,
        contexts={d: tokenize(text, characters=False) for d, text in contexts.items()},
    )


def keyword_pools(
    units: list[Unit],
    queries: list[str],
    contexts: dict[str, str],
    context_weights: Sequence[float],
    depth: int = 100,
) -> dict[float, list[Pool]]:
    """Per context weight, each query's top ``depth`` units by our keyword score (one index)."""
    index = unit_index(units, contexts)
    out: dict[float, list[Pool]] = {}
    for mu in context_weights:
        out[mu] = []
        for query in queries:
            found = Candidates()
            candidates_from("kb", index, query, None, None, "keyword", depth, found, mu)
            pairs = sorted(zip(found.chunk_ids, found.keyword, strict=True), key=lambda p: -p[1])
            out[mu].append([(int(r), float(s)) for r, s in pairs[:depth]])
    return out


def our_rankings(
    units: list[Unit],
    queries: list[str],
    embedder: Embedder | None,
    weight: float,
    label: str,
    k: int = 10,
    contexts: dict[str, str] | None = None,
    context_weight: float = CONTEXT_WEIGHT,
) -> dict[str, list[list[int]]]:
    """Top-k unit indexes per query for our keyword, dense and hybrid search."""
    vectors = embed_in_slices(embedder, [u.indexed for u in units], label) if embedder else None
    index = unit_index(units, contexts or {}, vectors)
    qvecs = embedder.embed(queries) if embedder else [None] * len(queries)
    modes = ("keyword", "dense", "hybrid") if embedder else ("keyword",)
    out: dict[str, list[list[int]]] = {m: [] for m in modes}
    for query, qvec in zip(queries, qvecs, strict=True):
        for mode in modes:
            found = Candidates()
            candidates_from("kb", index, query, qvec, None, mode, 100, found, context_weight)
            rows = np.asarray(found.chunk_ids, dtype=np.int64)
            dense = np.asarray(found.dense, dtype=np.float32)
            kw = np.asarray(found.keyword, dtype=np.float32)
            if mode == "keyword":
                scores = kw
            elif mode == "dense":
                scores = dense
            else:
                scores = fuse(dense, kw, weight)
            order = np.argsort(-scores, kind="stable")[:k]
            out[mode].append([int(rows[i]) for i in order])
    return out


def bm25s_rankings(
    texts: list[str], queries: list[str], tokenizer: Callable[[list[str]], list[list[str]]], k: int
) -> list[list[int]]:
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(tokenizer(texts), show_progress=False)
    out = []
    for q in queries:
        tokens = tokenizer([q])
        if not tokens[0]:
            out.append([])
            continue
        docs, _ = retriever.retrieve(tokens, k=min(k, len(texts)), show_progress=False)
        out.append([int(i) for i in docs[0]])
    return out


def english_tokens(texts: list[str]) -> list[list[str]]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    vocab = {v: k for k, v in ids.vocab.items()}
    return [[vocab[i] for i in doc] for doc in ids.ids]


def dense_rankings(vectors: np.ndarray, qvecs: np.ndarray, k: int) -> list[list[int]]:
    scores = qvecs @ vectors.T
    return [np.argsort(-row, kind="stable")[:k].tolist() for row in scores]


# --- financebench --------------------------------------------------------------------------


def halves(questions: list[dict]) -> tuple[list[int], list[int]]:
    """Question positions split in two by a seeded shuffle: tune on one, report the other."""
    order = sorted(range(len(questions)), key=lambda i: questions[i]["financebench_id"])
    random.Random(13).shuffle(order)
    return sorted(order[0::2]), sorted(order[1::2])


def financebench(data: Path, cache: Path, embedder: Embedder, rerank_depth: int = 20) -> dict:
    root = data / "retrieval" / "financebench"
    docs = [json.loads(line) for line in (root / "documents.jsonl").read_text().splitlines()]
    questions = [json.loads(line) for line in (root / "questions.jsonl").read_text().splitlines()]
    t0 = time.perf_counter()
    pages: list[Unit] = []
    chunks: list[Unit] = []
    contexts, headers = {}, {}
    for d in docs:
        path = root / d["file"]
        for n, text in enumerate(pypdf_pages(path, cache), start=1):
            pages.append(Unit(d["doc_name"], n, text, text))
        chunks.extend(cached_units(d["doc_name"], path, cache))
        ctx = context.document_context(parsed_blocks(path, cache), path.name)
        contexts[d["doc_name"]] = {"title": ctx.title, "period": ctx.period, "terms": ctx.terms}
        headers[d["doc_name"]] = context.document_header(ctx)
    print(
        f"[financebench] {len(docs)} PDFs: {len(pages)} pages, {len(chunks)} chunks "
        f"({time.perf_counter() - t0:.0f}s)",
        flush=True,
    )
    queries = [q["question"] for q in questions]
    tune, test = halves(questions)
    k = 10
    runs: dict[str, list[list[Unit]]] = {}
    bm = bm25s_rankings([p.text for p in pages], queries, english_tokens, k)
    runs["bm25s over pypdf pages (baseline)"] = [[pages[i] for i in r] for r in bm]
    plain = [Unit(u.doc, u.page, u.text, u.text) for u in chunks]
    bare = our_rankings(plain, queries, None, 0.0, "", k)["keyword"]
    runs["ours: BM25, chunks without context"] = [[chunks[i] for i in r] for r in bare]
    header_only = our_rankings(chunks, queries, None, 0.0, "", k, headers, 0.0)["keyword"]
    runs["ours: BM25, chunks + context header"] = [[chunks[i] for i in r] for r in header_only]
    # The document-context weight: tuned on the tuning half (page hit@5, then document hit@5).
    pools = keyword_pools(chunks, queries, headers, (0.5, 1.0, 2.0, 4.0, 8.0))
    grid = {mu: [[chunks[i] for i, _ in pool] for pool in by] for mu, by in pools.items()}

    def on_tune(mu: float) -> tuple[float, float]:
        m = fb_metrics([questions[i] for i in tune], [grid[mu][i] for i in tune])
        return m["page_hit@5"], m["doc_hit@5"]

    mu = max(grid, key=on_tune)
    runs[f"ours: BM25 + document context (weight {mu})"] = [r[:k] for r in grid[mu]]
    # Hybrid: dense scores for BM25's top candidates only (see the module's docstring).
    weight = DENSE_WEIGHT["latin"]
    best = [pool[:rerank_depth] for pool in pools[mu]]
    wanted = sorted({i for pool in best for i, _ in pool})
    vectors = embed_in_slices(embedder, [chunks[i].indexed for i in wanted], "financebench chunks")
    vector_of = dict(zip(wanted, vectors, strict=True))
    qvecs = embedder.embed(queries)
    hybrid = []
    for pool, qvec in zip(best, qvecs, strict=True):
        dense = np.asarray([vector_of[i] @ qvec for i, _ in pool], dtype=np.float32)
        kw = np.asarray([score for _, score in pool], dtype=np.float32)
        order = np.argsort(-fuse(dense, kw, weight), kind="stable")
        hybrid.append([chunks[pool[j][0]] for j in order[:k]])
    runs[f"ours: hybrid w={weight}, dense re-scoring BM25's top {rerank_depth}"] = hybrid
    # The search as it runs: every chunk embedded, candidates from BM25's top 100 and the
    # vectors' top 100, both scores exact for each, fused.
    full = our_rankings(chunks, queries, embedder, weight, "financebench chunks", k, headers, mu)
    runs["ours: dense, every chunk embedded"] = [[chunks[i] for i in r] for r in full["dense"]]
    runs[f"ours: hybrid w={weight}, every chunk embedded"] = [
        [chunks[i] for i in r] for r in full["hybrid"]
    ]
    page_vectors = embed_in_slices(embedder, [p.text for p in pages], "financebench pages")
    dr = dense_rankings(page_vectors, qvecs, k)
    runs["MiniLM over pypdf pages (baseline)"] = [[pages[i] for i in r] for r in dr]
    types = sorted({q["doc_type"] for q in questions})
    table = {}
    for method, results in runs.items():
        row = fb_metrics(questions, results)
        row["reported_half"] = fb_metrics([questions[i] for i in test], [results[i] for i in test])
        row["by_doc_type"] = {
            t: fb_metrics(
                [q for q in questions if q["doc_type"] == t],
                [r for q, r in zip(questions, results, strict=True) if q["doc_type"] == t],
            )
            for t in types
        }
        table[method] = row
    return {
        "documents": len(docs),
        "pages": len(pages),
        "chunks": len(chunks),
        "questions": len(questions),
        "questions_by_doc_type": {t: sum(q["doc_type"] == t for q in questions) for t in types},
        "tuning_questions": len(tune),
        "reported_questions": len(test),
        "context_weight_tuned": mu,
        "context_weight_grid_on_tuning_half": {str(m): on_tune(m) for m in grid},
        "hybrid_dense_weight": weight,
        "hybrid_rerank_depth": rerank_depth,
        "tuned_on": (
            "the document-context weight on the tuning half of the questions (seeded split); "
            "the hybrid's dense weight is the MS MARCO one (DENSE_WEIGHT['latin'])"
        ),
        "methods": table,
        "contexts": contexts,
    }


def fb_metrics(questions: list[dict], results: list[list[Unit]]) -> dict[str, float]:
    def page_hit(q: dict, u: Unit) -> bool:
        return u.doc == q["doc_name"] and u.page is not None and u.page - 1 in q["evidence_pages"]

    n = max(len(questions), 1)
    return {
        "page_hit@1": sum(
            any(page_hit(q, u) for u in r[:1]) for q, r in zip(questions, results, strict=True)
        )
        / n,
        "page_hit@5": sum(
            any(page_hit(q, u) for u in r[:5]) for q, r in zip(questions, results, strict=True)
        )
        / n,
        "doc_hit@5": sum(
            any(u.doc == q["doc_name"] for u in r[:5])
            for q, r in zip(questions, results, strict=True)
        )
        / n,
    }


# --- zh_docs -------------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+")


def holds_passage(chunk: str, passage: str) -> bool:
    """Whether a chunk holds most of a passage: half its characters in common runs of 4+."""
    a, b = _SPACE.sub("", passage), _SPACE.sub("", chunk)
    if not a:
        return False
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    common = sum(m.size for m in matcher.get_matching_blocks() if m.size >= 4)
    return common / len(a) >= 0.5


def bigram_tokens(texts: list[str]) -> list[list[str]]:
    out = []
    for text in texts:
        text = _SPACE.sub("", text)
        latin = [w.lower() for w in _LATIN_WORD.findall(text)]
        cjk = re.sub(r"[A-Za-z0-9]", "", text)
        out.append(latin + [cjk[i : i + 2] for i in range(len(cjk) - 1)])
    return out


def meaning_rankings(
    units: list[Unit], queries: list[str], contexts: dict[str, str], reader: Meanings, k: int
) -> list[list[int]]:
    """The server's default search for Chinese questions: keyword candidates (BM25 with the
    document context), ranked by BM25 and meaning together (``retrieve.by_meaning``)."""
    index = unit_index(units, contexts)
    out = []
    for query in queries:
        found = Candidates()
        candidates_from("kb", index, query, None, None, "keyword", CANDIDATES, found)
        rows = np.asarray(found.chunk_ids, dtype=np.int64)
        keyword = np.asarray(found.keyword, dtype=np.float32)
        dense, weight = by_meaning(reader, query, [units[i].indexed for i in rows], keyword)
        order = np.argsort(-fuse_meaning(dense, keyword, weight), kind="stable")[:k]
        out.append([int(rows[i]) for i in order])
    return out


def zh_halves(questions: list[dict]) -> tuple[set[int], set[int]]:
    """Question positions split in two by a seeded shuffle of their ids (tuning, reported)."""
    order = sorted(range(len(questions)), key=lambda i: questions[i]["id"])
    random.Random(13).shuffle(order)
    return set(order[0::2]), set(order[1::2])


def zh_docs(data: Path, cache: Path, reader: Meanings) -> dict:
    root = data / "retrieval" / "zh_docs"
    questions = [json.loads(line) for line in (root / "questions.jsonl").read_text().splitlines()]
    files = sorted(
        {q["file"] for q in questions}
        | {p.name for p in root.iterdir()} - {"README.md", "questions.jsonl", "Apache-2.0.txt"}
    )
    ours: list[Unit] = []
    bigram: list[Unit] = []
    headers = {}
    for name in files:
        path = root / name
        blocks = parsed_blocks(path, cache)
        ours.extend(cached_units(name, path, cache))
        headers[name] = context.document_header(context.document_context(blocks, name))
        whole = _SPACE.sub("", "".join(b.text for b in blocks))
        bigram.extend(
            Unit(name, None, whole[i : i + 300], whole[i : i + 300])
            for i in range(0, len(whole), 300)
        )
    queries = [q["question"] for q in questions]
    k = 10
    runs: dict[str, list[list[Unit]]] = {}
    bl = bm25s_rankings([u.text for u in bigram], queries, bigram_tokens, k)
    runs["bigram BM25, 300-char chunks (baseline)"] = [[bigram[i] for i in r] for r in bl]
    plain = [Unit(u.doc, u.page, u.text, u.text) for u in ours]
    bare = our_rankings(plain, queries, None, 0.0, "", k)["keyword"]
    runs["ours: BM25, chunks without context"] = [[ours[i] for i in r] for r in bare]
    mine = our_rankings(ours, queries, None, 0.0, "", k, headers, CONTEXT_WEIGHT)["keyword"]
    runs[f"ours: BM25 + context (weight {CONTEXT_WEIGHT})"] = [[ours[i] for i in r] for r in mine]
    default = meaning_rankings(ours, queries, headers, reader, k)
    runs[f"ours: BM25 + context + meanings (weight {MEANING_WEIGHT}), the default search"] = [
        [ours[i] for i in r] for r in default
    ]
    tuning, reported = zh_halves(questions)
    table = {}
    for method, results in runs.items():
        hits = [
            [u.doc == q["file"] and holds_passage(u.text, q["answer_passage"]) for u in r[:5]]
            for q, r in zip(questions, results, strict=True)
        ]
        n = len(questions)

        def share(positions: set[int], at: int, hits: list[list[bool]] = hits) -> float:
            return round(sum(any(hits[i][:at]) for i in positions) / len(positions), 4)

        table[method] = {
            "passage_hit@1": sum(h[:1] == [True] for h in hits) / n,
            "passage_hit@5": sum(any(h) for h in hits) / n,
            "tuning_half_hit@1/@5": [share(tuning, 1), share(tuning, 5)],
            "reported_half_hit@1/@5": [share(reported, 1), share(reported, 5)],
            "file_hit@5": sum(
                any(u.doc == q["file"] for u in r[:5])
                for q, r in zip(questions, results, strict=True)
            )
            / n,
            "first_hit_rank": [next((i + 1 for i, x in enumerate(h) if x), None) for h in hits],
        }
    return {
        "files": len(files),
        "questions": len(questions),
        "chunks": {"ours": len(ours), "baseline": len(bigram)},
        "hybrid_dense_weight": DENSE_WEIGHT["cjk"],
        "methods": table,
    }
