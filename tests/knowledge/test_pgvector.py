"""Knowledge bases on PostgreSQL with pgvector: vectors stored with their chunks, dense search
in SQL with every filter inside the query, instances that share nothing but the database.

A real throwaway PostgreSQL (tests/services.py) with the system's pgvector, migrated to the
head; the real embedder (MiniLM on ONNX Runtime)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, insert, select, text

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import NotFound
from aigc.infra import jobs
from aigc.infra.db import Database
from aigc.infra.schema import Tenant
from aigc.knowledge import db_index, pgvectors
from aigc.knowledge.ingest import add_document, embedder_for, ingest_documents
from aigc.knowledge.retrieve import Filters, search
from aigc.knowledge.tables import KbChunk, KbDocument, KnowledgeBase

from .conftest import Sandbox

A = Principal(tenant_id="t_a", role="admin", key_id="key_a")
B = Principal(tenant_id="t_b", role="admin", key_id="key_b")

TOPICS = [
    "The heart pumps blood through arteries and veins to every organ of the body.",
    "Volcanoes erupt when magma rises through cracks in the earth's crust.",
    "A sourdough starter ferments flour and water with wild yeast before baking bread.",
    "Interest rates set by the central bank influence mortgage payments and savings.",
    "Penguins live in the southern hemisphere and swim to catch fish and krill.",
    "The violin has four strings tuned in fifths and is played with a bow.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar in green leaves.",
    "A marathon is a running race of 42 kilometres first held at the 1896 Olympics.",
    "Compilers translate source code into machine instructions a processor executes.",
    "Glaciers carve valleys as the ice slowly flows downhill under its own weight.",
    "长城是中国古代修建的防御工程，绵延数千公里。",
    "Tea is brewed by steeping dried leaves of the camellia plant in hot water.",
]


def documents(n: int) -> dict[str, bytes]:
    """``n`` one-chunk documents, each on a topic and with a word of its own."""
    return {
        f"doc{i:02d}.md": f"# Note {i}\n\n{TOPICS[i % len(TOPICS)]} Marker zq{i}x.\n".encode()
        for i in range(n)
    }


def setup_db(url: str) -> Database:
    db = Database(url)
    with db.session() as s:
        s.add_all([Tenant(id="t_a", name="A"), Tenant(id="t_b", name="B")])
    return db


@pytest.fixture
def pg(pgvector_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    """The knowledge sandbox of tests/knowledge/conftest.py on PostgreSQL with pgvector."""
    db = setup_db(pgvector_url)
    db_index.forget()
    yield Sandbox(db, Settings(data_dir=tmp_path / "data-1"), A, B)
    db.dispose()


def ids_and_texts(hits: list) -> list[tuple[str, str]]:
    return [(h.filename, h.text) for h in hits]


def test_vectors_are_written_with_their_chunks_and_no_index_files(
    pg: Sandbox, tmp_path: Path
) -> None:
    kb = pg.kb(A, "notes")
    result = pg.ingest(A, kb, documents(6))
    assert result["indexed"] == 6
    with pg.db.session() as s:
        chunks = s.scalar(select(func.count(KbChunk.id)).where(KbChunk.kb_id == kb))
        vectors = s.execute(text("SELECT count(*), min(embedder) FROM kb_vectors")).one()
    assert chunks == 6 and vectors[0] == 6
    assert vectors[1].endswith("+int8")  # the configured embedder's signature
    index_root = tmp_path / "data-1" / "knowledge" / "t_a" / kb / "index"
    assert not index_root.exists(), "on pgvector no index files are written"


def test_dense_search_on_pgvector_equals_faiss_exact_on_sqlite(
    pg: Sandbox, sandbox: Sandbox
) -> None:
    docs = documents(12)
    kb_pg, kb_lite = pg.kb(A, "notes"), sandbox.kb(A, "notes")
    pg.ingest(A, kb_pg, docs)
    sandbox.ingest(A, kb_lite, docs)
    for query in ["how does blood circulate", "baking bread with yeast", "ice shaping valleys"]:
        with pg.db.session() as s:
            on_pg = search(s, pg.settings, A, [kb_pg], query, top_k=10, mode="dense")
        with sandbox.db.session() as s:
            on_lite = search(s, sandbox.settings, A, [kb_lite], query, top_k=10, mode="dense")
        assert ids_and_texts(on_pg) == ids_and_texts(on_lite), query
        assert [h.dense_score for h in on_pg] == pytest.approx(
            [h.dense_score for h in on_lite], abs=1e-4
        )
        with pg.db.session() as s:
            hybrid_pg = search(s, pg.settings, A, [kb_pg], query, top_k=5)
        with sandbox.db.session() as s:
            hybrid_lite = search(s, sandbox.settings, A, [kb_lite], query, top_k=5)
        assert ids_and_texts(hybrid_pg) == ids_and_texts(hybrid_lite), query


def test_filters_are_inside_the_query(pg: Sandbox) -> None:
    """Tenant, readable KB and chosen documents: the nearest chunk is forbidden in each case,
    and is never returned, while the allowed ones still are."""
    query = "penguins swimming after krill"
    penguin = {"penguins.md": TOPICS[4].encode()}
    others = {k: v for k, v in documents(4).items()}
    kb_a = pg.kb(A, "a")
    pg.ingest(A, kb_a, {**others, **penguin})
    kb_secret = pg.kb(A, "secret", access=[])  # an admin-only KB
    pg.ingest(A, kb_secret, {"penguins-secret.md": TOPICS[4].encode()})
    kb_b = pg.kb(B, "b")
    pg.ingest(B, kb_b, {"penguins-b.md": TOPICS[4].encode()})
    member = Principal(tenant_id="t_a", role="member", key_id="key_m")

    # the API refuses another tenant's KB and an unreadable one outright ...
    with pg.db.session() as s, pytest.raises(NotFound):
        search(s, pg.settings, A, [kb_a, kb_b], query, top_k=3, mode="dense")
    with pg.db.session() as s, pytest.raises(NotFound):
        search(s, pg.settings, member, [kb_secret], query, top_k=3, mode="dense")
    # ... and the SQL itself returns nothing of them: the tenant is in its WHERE too
    vector = embedder_for(pg.settings).embed([query])[0]
    signature = embedder_for(pg.settings).signature
    with pg.db.session() as s:
        b_docs = list(s.scalars(select(KbDocument.id).where(KbDocument.kb_id == kb_b)))
        assert pgvectors.nearest(s, "t_a", [kb_b], b_docs, vector, signature, 5) == []
        assert len(pgvectors.nearest(s, "t_b", [kb_b], b_docs, vector, signature, 5)) == 1
        secret_docs = list(s.scalars(select(KbDocument.id).where(KbDocument.kb_id == kb_secret)))
        a_docs = list(s.scalars(select(KbDocument.id).where(KbDocument.kb_id == kb_a)))
        # the KB ids and the documents are both in the WHERE: a's documents in a's KB only
        found = pgvectors.nearest(s, "t_a", [kb_a], a_docs + secret_docs, vector, signature, 10)
        assert len(found) == 5
        in_a = set(s.scalars(select(KbChunk.id).where(KbChunk.kb_id == kb_a)))
        assert {c for c, _ in found} == in_a
    with pg.db.session() as s:
        hits = search(s, pg.settings, A, [kb_a], query, top_k=3, mode="dense")
    assert hits[0].filename == "penguins.md"

    with pg.db.session() as s:
        penguin_id = s.scalar(select(KbDocument.id).where(KbDocument.filename == "penguins.md"))
        others_ids = list(
            s.scalars(select(KbDocument.id).where(KbDocument.filename.in_(list(others))))
        )
        hits = search(
            s,
            pg.settings,
            A,
            [kb_a],
            query,
            top_k=3,
            mode="dense",
            filters=Filters(document_ids=others_ids),
        )
    assert len(hits) == 3 and penguin_id not in {h.document_id for h in hits}


# --- the HNSW index itself, on a few thousand vectors --------------------------------------

N_VECTORS, ALLOWED_DOC_ROWS = 3000, 150


@pytest.fixture
def many_vectors(pg: Sandbox) -> tuple[Sandbox, str, np.ndarray, np.ndarray]:
    """3,000 random normalised vectors in one KB: 150 in doc_ok, the rest in doc_no."""
    kb = pg.kb(A, "big")
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N_VECTORS, pgvectors.DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with pg.db.session() as s:
        for doc in ("doc_ok", "doc_no"):
            s.add(KbDocument(id=doc, tenant_id="t_a", kb_id=kb, filename=doc, status="ready"))
        s.flush()
        owner = ["doc_ok" if i < ALLOWED_DOC_ROWS else "doc_no" for i in range(N_VECTORS)]
        s.execute(
            insert(KbChunk),
            [
                {"tenant_id": "t_a", "kb_id": kb, "document_id": d, "ordinal": i, "text": "x"}
                for i, d in enumerate(owner)
            ],
        )
        ids = np.asarray(s.scalars(select(KbChunk.id).order_by(KbChunk.id)).all())
        pgvectors.write(s, "t_a", kb, list(zip(ids.tolist(), owner, strict=True)), vectors, "e")
        s.execute(text("ANALYZE kb_vectors"))
    return pg, kb, ids, vectors


def test_hnsw_recall_at_10_against_exact(
    many_vectors: tuple[Sandbox, str, np.ndarray, np.ndarray],
) -> None:
    pg, kb, ids, vectors = many_vectors
    rng = np.random.default_rng(8)
    recalls = []
    for _ in range(30):
        q = rng.standard_normal(pgvectors.DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        exact = set(ids[np.argsort(-(vectors @ q))[:10]].tolist())
        with pg.db.session() as s:
            plan = "\n".join(
                s.execute(
                    text(
                        "EXPLAIN SELECT chunk_id FROM kb_vectors ORDER BY embedding <#> :q LIMIT 10"
                    ),
                    {"q": "[" + ",".join(map(str, q.tolist())) + "]"},
                ).scalars()
            )
            found = pgvectors.nearest(s, "t_a", [kb], ["doc_ok", "doc_no"], q, "e", 10)
        assert "ix_kb_vectors_hnsw" in plan  # the HNSW index answers, not a scan
        recalls.append(len(exact & {c for c, _ in found}) / 10)
    assert np.mean(recalls) >= 0.95


def test_filtered_hnsw_still_returns_k_allowed_rows(
    many_vectors: tuple[Sandbox, str, np.ndarray, np.ndarray],
) -> None:
    """Queries equal to forbidden vectors (the nearest chunk is in doc_no): 10 rows come back,
    all from doc_ok (5% of the KB), and they are the exact top 10 of doc_ok."""
    pg, kb, ids, vectors = many_vectors
    allowed = np.arange(ALLOWED_DOC_ROWS)
    overlap = []
    for row in range(ALLOWED_DOC_ROWS, ALLOWED_DOC_ROWS + 20):
        q = vectors[row]
        with pg.db.session() as s:
            found = pgvectors.nearest(s, "t_a", [kb], ["doc_ok"], q, "e", 10)
        got = [c for c, _ in found]
        assert len(got) == 10
        assert set(got) <= set(ids[allowed].tolist())
        assert int(ids[row]) not in got
        exact = ids[allowed[np.argsort(-(vectors[allowed] @ q))[:10]]]
        overlap.append(len(set(got) & set(exact.tolist())) / 10)
        with pg.db.session() as s:  # another tenant asking for the same KB gets nothing
            assert pgvectors.nearest(s, "t_b", [kb], ["doc_ok", "doc_no"], q, "e", 10) == []
    assert np.mean(overlap) >= 0.95


# --- several instances ---------------------------------------------------------------------


def test_a_second_instance_searches_what_the_first_ingested(
    pg: Sandbox, pgvector_url: str, tmp_path: Path
) -> None:
    """Instance 2: its own Database, an empty data directory, no cached state. It finds a
    document ingested through instance 1, and one ingested after it had searched."""
    kb = pg.kb(A, "shared")
    pg.ingest(A, kb, documents(3))
    db_index.forget()  # a fresh process's state
    second_dir = tmp_path / "data-2"
    second = Settings(data_dir=second_dir)
    db2 = Database(pgvector_url)
    try:
        with db2.session() as s:
            hits = search(s, second, A, [kb], "marker zq1x", top_k=1, mode="keyword")
        assert [h.filename for h in hits] == ["doc01.md"]
        pg.ingest(A, kb, {"late.md": b"A kiwi is a flightless bird of New Zealand."})
        with db2.session() as s:
            hits = search(s, second, A, [kb], "flightless birds", top_k=1)
        assert [h.filename for h in hits] == ["late.md"]
        assert not (second_dir / "knowledge" / "t_a" / kb).exists()
    finally:
        db2.dispose()


def _instance(url: str, data_dir: str, kb_id: str, doc_ids: list[str]) -> dict:
    """One gateway instance's ingestion job, in its own process."""
    db = Database(url)
    try:
        return ingest_documents(db, Settings(data_dir=Path(data_dir)), "t_a", kb_id, doc_ids)
    finally:
        db.dispose()


def test_two_instances_ingesting_one_kb_at_once_store_every_chunk_once(
    pg: Sandbox, pgvector_url: str, tmp_path: Path
) -> None:
    """50 documents; instance 1 is given the first 35, instance 2 the last 35 (20 given to
    both), in two processes at the same time. The uploaded bytes are on the data volume both
    share (the directory storage backend); the index is in the database alone."""
    kb = pg.kb(A, "busy")
    with pg.db.session() as s:
        doc_ids = [
            add_document(s, pg.settings, A, kb, name, [data]).document.id
            for name, data in documents(50).items()
        ]
    spawn, shared = multiprocessing.get_context("spawn"), str(pg.settings.data_dir)
    with spawn.Pool(2) as pool:
        first = pool.apply_async(_instance, (pgvector_url, shared, kb, doc_ids[:35]))
        second = pool.apply_async(_instance, (pgvector_url, shared, kb, doc_ids[15:]))
        results = [first.get(timeout=900), second.get(timeout=900)]
    assert all(r["failed"] == 0 for r in results), results
    with pg.db.session() as s:
        docs = s.execute(
            select(KbDocument.id, KbDocument.status, KbDocument.chunk_count).where(
                KbDocument.kb_id == kb
            )
        ).all()
        pairs = s.execute(
            select(KbChunk.document_id, KbChunk.ordinal).where(KbChunk.kb_id == kb)
        ).all()
        vectors = s.execute(
            text(
                "SELECT count(*), count(DISTINCT v.chunk_id) FROM kb_vectors v "
                "JOIN kb_chunks c ON c.id = v.chunk_id WHERE c.kb_id = :k"
            ),
            {"k": kb},
        ).one()
        version = s.scalar(select(KnowledgeBase.index_version).where(KnowledgeBase.id == kb))
    assert len(docs) == 50 and {status for _, status, _ in docs} == {"ready"}
    assert max(Counter(pairs).values()) == 1  # no (document, ordinal) twice
    assert len(pairs) == sum(count for _, _, count in docs)  # none lost
    assert {d for d, _ in pairs} == set(doc_ids)
    assert vectors[0] == vectors[1] == len(pairs)  # every chunk has one vector
    assert version >= 2  # each instance bumped it
    db_index.forget()
    for i in (0, 17, 49):  # searchable, by words and by meaning
        with pg.db.session() as s:
            assert (
                search(s, pg.settings, A, [kb], f"zq{i}x", top_k=1, mode="keyword")[0].filename
                == f"doc{i:02d}.md"
            )
            dense = search(s, pg.settings, A, [kb], TOPICS[i % len(TOPICS)], top_k=5, mode="dense")
            assert f"doc{i:02d}.md" in {h.filename for h in dense}


def test_without_pgvector_a_second_instance_rebuilds_its_files_from_the_database(
    postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL whose pgvector is absent (kb_vectors dropped: the migration's outcome there):
    the FAISS files path, and instance 2, with a data directory of its own, brings its files
    up to the database's ``index_version`` before searching."""
    from aigc.infra import migrate

    migrate.upgrade(postgres_url)
    first_db = setup_db(postgres_url)
    with first_db.session() as s:
        s.execute(text("DROP TABLE kb_vectors"))
    first_db.dispose()
    first_db = Database(postgres_url)  # a fresh engine: it finds no kb_vectors
    first = Sandbox(first_db, Settings(data_dir=tmp_path / "data-1"), A, B)
    second_db = Database(postgres_url)
    second = Settings(data_dir=tmp_path / "data-2")
    try:
        kb = first.kb(A, "files")
        first.ingest(A, kb, documents(3))
        assert (tmp_path / "data-1" / "knowledge" / "t_a" / kb / "index" / "CURRENT").exists()
        with second_db.session() as s:
            hits = search(s, second, A, [kb], "marker zq2x", top_k=1, mode="keyword")
        assert [h.filename for h in hits] == ["doc02.md"]
        first.ingest(A, kb, {"late.md": b"A kiwi is a flightless bird of New Zealand."})
        with second_db.session() as s:
            hits = search(s, second, A, [kb], "flightless birds", top_k=1, mode="dense")
        assert [h.filename for h in hits] == ["late.md"]
    finally:
        first_db.dispose()
        second_db.dispose()


def test_chunks_stored_before_pgvector_are_embedded_by_the_next_start(pg: Sandbox) -> None:
    """A PostgreSQL install upgraded from a version that kept vectors in files has chunks and
    no ``kb_vectors`` rows. Was: dense search found none of its documents until something new
    was ingested into each knowledge base. Now the job runner's first sweep queues a sync of
    each such knowledge base, which embeds them."""
    kb = pg.kb(A, "from before")
    pg.ingest(A, kb, documents(4))
    with pg.db.session() as s:
        s.execute(text("DELETE FROM kb_vectors"))  # as the version before 0011 left them
    db_index.forget()

    def dense(query: str) -> list[str]:
        with pg.db.session() as s:
            hits = search(s, pg.settings, A, [kb], query, top_k=1, mode="dense")
        return [h.filename for h in hits]

    assert dense("volcanoes and magma") == []
    runner = jobs.JobRunner(pg.db, pg.settings.data_dir, "after-upgrade")
    runner.sweep()  # what every runner does at start
    assert runner.run_once(), "no job was queued for the knowledge base"
    assert dense("volcanoes and magma") == ["doc01.md"]
    with pg.db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM kb_vectors")) == 4
    runner.sweep()  # once per process: nothing more to queue
    assert not runner.run_once()
