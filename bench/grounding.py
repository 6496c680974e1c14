"""Grounded chat's relevance judgement on real documents: answerable, off-topic, absent.

    .venv/bin/python bench/grounding.py              # evaluate; writes bench/results/grounding.json
    .venv/bin/python bench/grounding.py --calibrate  # also print what the tuning halves imply

What grounding must get right before any model is asked (``aigc.knowledge.relevance``): the
best chunks retrieval returns are "relevant" for an answerable question, and "nothing relevant"
for a question the knowledge base cannot answer.

Sets (../shared/data; the script skips a set whose data is absent):
  zh_docs   15 Chinese documents ingested through the real pipeline (dense + keyword, as the
            product builds a knowledge base: a Chinese question's candidates are ranked by BM25
            and their words' meanings, knowledge/meanings.py) and its 36
            paraphrased questions. For each: "nothing relevant" (no top-8 chunk passes) or not;
            whether the answering passage is among the passing chunks. "Absent": the same
            question with the answering document filtered out of the search (what a question
            about a document missing from the knowledge base sees).
  off-topic the zh_docs knowledge base asked 50 general Chinese instructions (alpaca_zh, the
            first 50 one-line ones, unfiltered) and the 43 English MS MARCO queries; an English
            knowledge base of the 5,000 MS MARCO passages (dense + keyword, as the product
            builds it) asked the 36 zh_docs questions.
  msmarco   the MS MARCO passages with their judged queries: the judged passage's judgement,
            and the absent case (the best passage once every judged passage is filtered out).

Calibration (``--calibrate`` prints the coverage and dense score behind each figure): the
questions are split in halves by position (even: tuning, odd: evaluation) for zh_docs and MS
MARCO. The Chinese threshold is the best coverage of the worst-served tuning question, rounded
down; the dense rule's cut lies above the tuning half's absent-document negatives; the Latin
threshold is set by hand below what the MS MARCO tuning half allows (docs/grounding.md says
why). Figures are reported per half: the evaluation half shows the rules on questions they
were not read off.

Writes bench/results/grounding.json. Deterministic; no timing is measured.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ZH = DATA / "retrieval" / "zh_docs"
MSMARCO = DATA / "retrieval" / "msmarco"
ALPACA_ZH = DATA / "guard" / "benign" / "alpaca_zh.jsonl"
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"  # git-ignored: the built MS MARCO knowledge base
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from aigc.access import Principal  # noqa: E402
from aigc.config import Settings  # noqa: E402
from aigc.infra.db import Database  # noqa: E402
from aigc.infra.schema import Tenant  # noqa: E402
from aigc.knowledge import bases, citing, grounding, relevance  # noqa: E402
from aigc.knowledge.ingest import add_document, ingest_documents  # noqa: E402
from aigc.knowledge.retrieve import Filters, Hit, script_of, search, term_weights  # noqa: E402
from aigc.tables import Base  # noqa: E402

TOP = grounding.MAX_SOURCES
POSTGRES: str | None = None  # --pgvector: the admin URL of a PostgreSQL with pgvector


def fresh_database(admin_url: str) -> str:
    """A new database on that server, migrated to the head (pgvector's kb_vectors included)."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from aigc.infra import migrate

    name = f"grounding_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


ADMIN = Principal(tenant_id="t", role="admin", key_id="k")
_SPACE = re.compile(r"\s+")


class Kb:
    """A knowledge base built through the real ingestion pipeline in a temporary folder."""

    def __init__(self, folder: Path, files: dict[str, bytes], dense: bool) -> None:
        """Built once in ``folder``; a folder already built is reused (the embeddings of the
        MS MARCO passages take minutes on 2 cores)."""
        from aigc.knowledge.tables import KbDocument, KnowledgeBase

        built = (folder / "kb.db").exists() and _current_schema(folder / "kb.db")
        folder.mkdir(parents=True, exist_ok=True)
        self.settings = Settings(data_dir=folder / "data")
        if POSTGRES is not None:  # --pgvector: a fresh database, the embedding cache reused
            built = False
            self.db = Database(fresh_database(POSTGRES))
        else:
            self.db = Database(f"sqlite:///{folder}/kb.db")
        if not built:
            if POSTGRES is None:
                Base.metadata.create_all(self.db.engine)
            with self.db.session() as s:
                s.add(Tenant(id="t", name="t"))
            with self.db.session() as s:
                kb_id = bases.create_kb(s, ADMIN, "bench", dense=dense).id
                ids = [
                    add_document(s, self.settings, ADMIN, kb_id, name, [data]).document.id
                    for name, data in files.items()
                ]
            ingest_documents(self.db, self.settings, "t", kb_id, ids)
        with self.db.session() as s:
            self.id = s.query(KnowledgeBase).one().id
            self.doc_of = {d.filename: d.id for d in s.query(KbDocument).filter_by(kb_id=self.id)}
        with self.db.session() as s:
            self.weights = term_weights(self.settings, "t", [self.id], session=s)

    def search(self, question: str, top_k: int = TOP, without: str | None = None) -> list[Hit]:
        filters = None
        if without is not None:
            filters = Filters(document_ids=[d for n, d in self.doc_of.items() if n != without])
        with self.db.session() as s:
            return search(
                s, self.settings, ADMIN, [self.id], question, top_k=top_k, filters=filters
            )

    def judge(self, question: str, hits: list[Hit]) -> list[relevance.Judgement]:
        """As grounding judges (``grounding.judgements``)."""
        return grounding.judgements(hits, question, self.weights)


def _current_schema(path: Path) -> bool:
    """Whether a cached knowledge base has every column the code expects; one built before a
    migration is built again (its embeddings come from the embedder's cache in the folder)."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(f"sqlite:///{path}")
    try:
        found = inspect(engine)
        current = all(
            {c.name for c in table.columns} <= {c["name"] for c in found.get_columns(table.name)}
            for table in Base.metadata.sorted_tables
            if found.has_table(table.name)
        )
    finally:
        engine.dispose()
    if not current:
        path.unlink()
        print(f"{path} predates the schema: built again", file=sys.stderr)
    return current


def before(hit: Hit, question: str) -> bool:
    """The rule grounding used before (retrieve.is_relevant up to issue 18), for comparison: a
    dense score of 0.35 for a Latin-script question, or half of the question's BM25 tokens
    (single Chinese characters and fillers included) in the chunk."""
    from aigc.knowledge.index import tokenize

    if hit.dense_score is not None and hit.dense_score >= 0.35 and script_of(question) == "latin":
        return True
    terms = set(tokenize(question))
    return bool(terms) and len(terms & set(tokenize(hit.text))) / len(terms) >= 0.5


def squeeze(text: str) -> str:
    return _SPACE.sub("", text)


def holds(hit: Hit, passage: str) -> bool:
    """The chunk holds the answering passage (or a 20-character piece of it)."""
    text, want = squeeze(hit.text), squeeze(passage)
    if want in text:
        return True
    pieces = [want[i : i + 20] for i in range(0, max(1, len(want) - 19), 10)]
    return any(p in text for p in pieces)


def zh_questions() -> list[dict[str, Any]]:
    with open(ZH / "questions.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def zh_files() -> dict[str, bytes]:
    skip = {"README.md", "questions.jsonl", "Apache-2.0.txt"}
    return {p.name: p.read_bytes() for p in sorted(ZH.iterdir()) if p.name not in skip}


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {"questions": len(rows), key: sum(bool(r[key]) for r in rows)}


def matched(kb: Kb, sources: list[Hit], question: str, answer: str) -> list[Hit]:
    """The sources an answer without [n] markers is cited for (``citing``'s matching)."""
    use = citing.SourceUse(sources, question, True, kb.weights)
    use.rewrite(answer)
    return use.cited()


def zh_docs(kb: Kb) -> dict[str, Any]:
    rows = []
    questions = zh_questions()
    for i, q in enumerate(questions):
        hits = kb.search(q["question"])
        judged = kb.judge(q["question"], hits)
        gold = [holds(h, q["answer_passage"]) for h in hits]
        deep = kb.search(q["question"], top_k=100)
        gold_deep = next((j for j, h in enumerate(deep) if holds(h, q["answer_passage"])), None)
        gold_judgement = None
        if gold_deep is not None:
            gold_judgement = kb.judge(q["question"], [deep[gold_deep]])[0]
        absent = kb.search(q["question"], without=q["file"])
        absent_judged = kb.judge(q["question"], absent)
        # Citation by matching: the reference answer (written by hand, in other words than the
        # passage) against the top 8 plus the answering chunk; and another question's answer
        # against the same sources (an answer that does not use them).
        sources = list(hits)
        if gold_deep is not None and not any(gold):
            sources.append(deep[gold_deep])
        cited = matched(kb, sources, q["question"], q["answer"])
        other = questions[(i + 1) % len(questions)]["answer"]
        rows.append(
            {
                "id": q["id"],
                "half": "tuning" if i % 2 == 0 else "evaluation",
                "nothing_relevant": not any(j.relevant for j in judged),
                "nothing_relevant_before": not any(before(h, q["question"]) for h in hits),
                "relevant_sources": sum(j.relevant for j in judged),
                "answer_in_top8": any(gold),
                "answer_passes": any(g and j.relevant for g, j in zip(gold, judged, strict=True)),
                "answer_rank": gold_deep,
                "answer_coverage": None if gold_judgement is None else gold_judgement.coverage,
                "best_coverage": max((j.coverage for j in judged), default=0.0),
                "absent_relevant_sources": sum(j.relevant for j in absent_judged),
                "absent_relevant_sources_before": sum(before(h, q["question"]) for h in absent),
                "absent_best_coverage": max((j.coverage for j in absent_judged), default=0.0),
                "matching_cites_answer": any(holds(h, q["answer_passage"]) for h in cited),
                "matching_cites_other": sum(not holds(h, q["answer_passage"]) for h in cited),
                "matching_cites_for_unrelated_answer": len(
                    matched(kb, sources, q["question"], other)
                ),
                "answer_found": gold_deep is not None,
                # (coverage, meaning) of the top-8 chunks that hold the answer: what
                # --calibrate derives the meaning rule from
                "answer_top8": [
                    [j.coverage, j.meaning] for j, g in zip(judged, gold, strict=True) if g
                ],
            }
        )
    return {"rows": rows}


def meaning_calibration(rows: list[dict[str, Any]]) -> dict[str, float]:
    """What the zh_docs tuning half implies for the meaning rule (relevance.py): the lowest
    coverage and meaning of an answering chunk among the top 8."""
    answering = [pair for r in rows if r["half"] == "tuning" for pair in r["answer_top8"]]
    return {
        "answering_lowest_coverage": min(c for c, _ in answering),
        "answering_lowest_meaning": min((m or 0.0) for _, m in answering),
    }


def off_topic(kb: Kb, questions: list[str]) -> dict[str, Any]:
    rows = []
    for i, question in enumerate(questions):
        hits = kb.search(question)
        judged = kb.judge(question, hits)
        rows.append(
            {
                "question": i,  # its position: the data's text is not copied into results
                "relevant_sources": sum(j.relevant for j in judged),
                "relevant_sources_before": sum(before(h, question) for h in hits),
                "best_coverage": max((j.coverage for j in judged), default=0.0),
                "best_dense": max((j.dense or 0.0 for j in judged), default=0.0),
            }
        )
    return {
        "rows": rows,
        "with_sources": sum(r["relevant_sources"] > 0 for r in rows),
        "with_sources_before": sum(r["relevant_sources_before"] > 0 for r in rows),
    }


def alpaca_zh(n: int) -> list[str]:
    out = []
    with open(ALPACA_ZH, encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"].strip()
            if 4 <= len(text) <= 80 and "\n" not in text:
                out.append(text)
            if len(out) == n:
                break
    return out


def msmarco_data() -> tuple[dict[str, bytes], dict[str, str], dict[str, dict[str, int]]]:
    lines = (MSMARCO / "corpus.jsonl").read_text(encoding="utf-8").split("\n")
    qrels: dict[str, dict[str, int]] = {}
    for line in (MSMARCO / "qrels" / "test.tsv").read_text().splitlines():
        qid, pid, grade = line.split("\t")
        qrels.setdefault(qid, {})[pid] = int(grade)
    queries = {}
    for line in (MSMARCO / "queries.jsonl").read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        q = json.loads(line)
        if q["_id"] in qrels:
            queries[q["_id"]] = q["text"]
    return {"corpus.jsonl": "\n".join(lines).encode()}, queries, qrels


def msmarco(kb: Kb, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Judged passages are found by their text (the ingester keeps each JSONL record whole)."""
    texts = {}
    for line in (MSMARCO / "corpus.jsonl").read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        d = json.loads(line)
        texts[d["_id"]] = d["text"]
    rows = []
    for i, (qid, question) in enumerate(sorted(queries.items())):
        judged_texts = [squeeze(texts[p])[:80] for p, g in qrels[qid].items() if g > 0]
        hits = kb.search(question, top_k=100)
        verdicts = kb.judge(question, hits)
        is_gold = [any(t in squeeze(h.text) for t in judged_texts) for h in hits]
        positives = [v for v, g in zip(verdicts, is_gold, strict=True) if g]
        negatives = [v for v, g in zip(verdicts, is_gold, strict=True) if not g]
        negative_hits = [h for h, g in zip(hits, is_gold, strict=True) if not g]
        top = verdicts[:TOP]
        rows.append(
            {
                "id": qid,
                "half": "tuning" if i % 2 == 0 else "evaluation",
                "nothing_relevant": not any(v.relevant for v in top),
                "nothing_relevant_before": not any(before(h, question) for h in hits[:TOP]),
                "judged_found": len(positives),
                "judged_pass": sum(v.relevant for v in positives),
                "judged": [[v.coverage, v.dense] for v in positives],
                # the absent case: the best passage that is not judged relevant
                "absent_best": None
                if not negatives
                else [negatives[0].coverage, negatives[0].dense],
                "absent_pass": bool(negatives) and negatives[0].relevant,
                "absent_pass_before": bool(negatives) and before(negative_hits[0], question),
            }
        )
    return {"rows": rows}


def by_half(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for half in ("tuning", "evaluation"):
        out[half] = sum(bool(r[key]) for r in rows if r["half"] == half)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calibrate", action="store_true", help="print the tuning features")
    parser.add_argument("--no-msmarco", action="store_true", help="skip the English KB (embeds 5k)")
    parser.add_argument(
        "--pgvector",
        action="store_true",
        help="knowledge bases on a throwaway PostgreSQL with pgvector (grounding-pgvector.json)",
    )
    args = parser.parse_args()
    server = None
    if args.pgvector:
        from scale_search import _postgres

        global POSTGRES
        POSTGRES, server = _postgres()
    try:
        run(args)
    finally:
        if server is not None:
            server.stop()


def run(args: argparse.Namespace) -> None:
    report: dict[str, Any] = {
        "thresholds": {
            "min_coverage": relevance.MIN_COVERAGE,
            "min_dense": relevance.MIN_DENSE,
            "min_coverage_with_dense": relevance.MIN_COVERAGE_WITH_DENSE,
            "character_credit": relevance.CHARACTER_CREDIT,
            "close_meaning": relevance.CLOSE_MEANING,
            "min_coverage_with_meaning": relevance.MIN_COVERAGE_WITH_MEANING,
        }
    }
    from bench.benchlib import machine

    report["machine"] = machine()
    with tempfile.TemporaryDirectory() as tmp:
        zh_kb = Kb(Path(tmp) / "zh", zh_files(), dense=True) if ZH.exists() else None
        if zh_kb is not None:
            report["zh_docs"] = zh_docs(zh_kb)
            if ALPACA_ZH.exists():
                report["off_topic_zh_on_zh_docs"] = off_topic(zh_kb, alpaca_zh(50))
        if not args.no_msmarco and MSMARCO.exists():
            files, queries, qrels = msmarco_data()
            en_kb = Kb(CACHE / "grounding_msmarco", files, dense=True)
            report["msmarco"] = msmarco(en_kb, queries, qrels)
            if zh_kb is not None:
                report["off_topic_en_on_zh_docs"] = off_topic(zh_kb, list(queries.values()))
                report["off_topic_zh_on_msmarco"] = off_topic(
                    en_kb, [q["question"] for q in zh_questions()]
                )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "grounding-pgvector.json" if POSTGRES is not None else "grounding.json"
    report["database"] = "postgresql+pgvector" if POSTGRES is not None else "sqlite"
    (RESULTS / name).write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print_table(report, args.calibrate)


def print_table(report: dict[str, Any], calibrate: bool) -> None:
    zh = report.get("zh_docs")
    if zh:
        rows = zh["rows"]
        print("zh_docs (36 answerable questions), by half (tuning / evaluation):")
        for key in (
            "nothing_relevant",
            "nothing_relevant_before",
            "answer_in_top8",
            "answer_passes",
        ):
            print(f"  {key:28} {by_half(rows, key)}")
        absent = [r for r in rows if r["absent_relevant_sources"]]
        found = [r for r in rows if r["answer_found"]]
        print(
            f"  matching (reference answer, no markers): cites the answering chunk for "
            f"{sum(r['matching_cites_answer'] for r in found)} of {len(found)} found; other "
            f"chunks cited {sum(r['matching_cites_other'] for r in rows)} times; an unrelated "
            f"answer cited {sum(r['matching_cites_for_unrelated_answer'] for r in rows)} chunks "
            f"over {len(rows)} questions"
        )
        was = sum(bool(r["absent_relevant_sources_before"]) for r in rows)
        print(f"  answering document absent, some source passed before: {was} / {len(rows)}")
        print(f"  answering document absent, still some source passes: {len(absent)} / {len(rows)}")
        if calibrate:
            derived = meaning_calibration(rows)
            print(
                "  tuning half, for the meaning rule: "
                + ", ".join(f"{k} {v:.3f}" for k, v in derived.items())
            )
            for r in rows:
                print(
                    f"   {r['id']} {r['half'][:4]} rank={r['answer_rank']} "
                    f"gold_cov={r['answer_coverage']} best={r['best_coverage']:.3f} "
                    f"absent_best={r['absent_best_coverage']:.3f}"
                )
    for name in ("off_topic_zh_on_zh_docs", "off_topic_en_on_zh_docs", "off_topic_zh_on_msmarco"):
        part = report.get(name)
        if part:
            print(
                f"{name}: {part['with_sources']} of {len(part['rows'])} got a relevant source "
                f"(before: {part['with_sources_before']})"
            )
            if calibrate:
                worst = sorted(part["rows"], key=lambda r: -r["best_coverage"])[:5]
                for r in worst:
                    cov, dense = r["best_coverage"], r["best_dense"]
                    print(f"   cov={cov:.3f} dense={dense:.3f} question #{r['question']}")
    ms = report.get("msmarco")
    if ms:
        rows = ms["rows"]
        print("msmarco (43 judged queries), by half:")
        for key in ("nothing_relevant", "nothing_relevant_before", "absent_pass"):
            print(f"  {key:24} {by_half(rows, key)}")
        print(f"  {'absent_pass_before':24} {by_half(rows, 'absent_pass_before')}")
        found = sum(r["judged_found"] for r in rows)
        passed = sum(r["judged_pass"] for r in rows)
        print(f"  judged passages in the top 100 that pass: {passed} / {found}")
        if calibrate:
            for r in rows:
                judged, absent = r["judged"][:3], r["absent_best"]
                print(f"   {r['id']} {r['half'][:4]} judged={judged} absent={absent}")


if __name__ == "__main__":
    main()
