"""The ingestion pipeline: documents parsed ahead on workers while earlier ones are embedded.

Parallel must change nothing but the speed: the same chunks as one worker, every file's
outcome said in a progress line of its own as soon as it is done, and a file that breaks
(even in a way nobody foresaw) fails alone.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from aigc.knowledge import ingest
from aigc.knowledge.context import indexed_text
from aigc.knowledge.ingest import embedder_for, ingest_documents
from aigc.knowledge.tables import KbChunk, KbDocument

from .conftest import Sandbox
from .test_ingest import make_docx, make_pdf

# The first test of a run exports the model to ONNX (tests/conftest.py): minutes on a loaded
# 2-core machine, seconds on a quiet one.
pytestmark = pytest.mark.timeout(900)


def files() -> dict[str, bytes]:
    long_en = "\n\n".join(
        f"Section {i}. Net revenue in segment {i} rose {i}% on pricing; costs fell by {i} bps."
        for i in range(40)
    )
    long_zh = "\n\n".join(
        f"第{i}条 员工出差期间按标准享受伙食补贴，每天{i}十元。" for i in range(30)
    )
    return {
        "report.pdf": make_pdf([["Quarterly report", "Revenue grew 12%."], ["Outlook is stable."]]),
        "policy.docx": make_docx("Travel", ["Book trains via the portal."], [["a", "b"]]),
        "long.md": f"# Results\n\n{long_en}\n".encode(),
        "规定.txt": long_zh.encode(),
        "notes.html": b"<h1>Notes</h1><p>The VPN client is GlobalProtect.</p>",
    }


def chunks_by_file(sandbox: Sandbox, kb: str) -> dict[str, list[tuple[Any, ...]]]:
    with sandbox.db.session() as s:
        rows = s.execute(
            select(KbDocument.filename, KbChunk.ordinal, KbChunk.text, KbChunk.page)
            .join(KbDocument, KbDocument.id == KbChunk.document_id)
            .where(KbChunk.kb_id == kb)
            .order_by(KbDocument.filename, KbChunk.ordinal)
        ).all()
    out: dict[str, list[tuple[Any, ...]]] = {}
    for name, ordinal, text, page in rows:
        out.setdefault(name, []).append((ordinal, text, page))
    return out


def test_parallel_ingestion_yields_the_same_chunks_and_vectors_as_sequential(
    sandbox: Sandbox,
) -> None:
    results = {}
    for workers in (1, 3):
        kb = sandbox.kb(sandbox.admin_a, f"w{workers}")
        changed = sandbox.add(sandbox.admin_a, kb, files())
        result = ingest_documents(sandbox.db, sandbox.settings, "t_a", kb, changed, workers=workers)
        assert result["indexed"] == 5 and result["failed"] == 0, result
        results[workers] = (kb, chunks_by_file(sandbox, kb), result["chunks"])
    (kb1, one, n1), (kb3, three, n3) = results[1], results[3]
    assert one == three and n1 == n3 == sum(len(v) for v in one.values())
    assert len(one["long.md"]) > 1 and len(one["规定.txt"]) > 1

    from aigc.knowledge.index import KbIndex
    from aigc.knowledge.ingest import index_dir

    embedder = embedder_for(sandbox.settings)
    for kb in (kb1, kb3):
        index = KbIndex.load(index_dir(sandbox.settings.data_dir, "t_a", kb))
        assert index is not None and len(index) == n1
        with sandbox.db.session() as s:
            rows = s.execute(
                select(KbChunk.id, KbChunk.context, KbChunk.text).where(KbChunk.kb_id == kb)
            ).all()
        texts = {cid: indexed_text(head, text) for cid, head, text in rows}  # as indexed
        rows = [index.row_of[c] for c in texts]
        assert np.allclose(index.vectors[rows], embedder.embed(list(texts.values())), atol=1e-5)  # type: ignore[index]


def test_every_file_gets_its_own_progress_line_as_it_is_done(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "docs")
    names = files()
    changed = sandbox.add(sandbox.admin_a, kb, names)
    seen: list[tuple[float, str]] = []
    ingest_documents(
        sandbox.db,
        sandbox.settings,
        "t_a",
        kb,
        changed,
        progress=lambda f, m, *_: seen.append((f, m)),
    )
    per_file = [(f, m) for f, m in seen if re.match(r"document \d of 5: .* (indexed|failed)", m)]
    assert [m.split(":")[0] for _, m in per_file] == [f"document {i} of 5" for i in range(1, 6)]
    for name in names:
        assert sum(f" {name} indexed, " in f" {m}" for _, m in per_file) == 1, (name, per_file)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    last_file = seen.index(per_file[-1])
    assert [m for _, m in seen[last_file + 1 :]] == ["updating the index", "done"]


def test_a_broken_file_fails_alone_even_on_an_unforeseen_error(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt PDF (a reason the parser gives) and a file that trips a bug (an exception
    nobody handled) each fail with a reason; the others are indexed and searchable."""
    real = ingest.chunk_blocks

    def chunk_blocks(blocks: Any, *args: Any) -> Any:
        if any("TRIP-THE-BUG" in b.text for b in blocks):
            raise KeyError("a bug in the chunker")
        return real(blocks, *args)

    monkeypatch.setattr(ingest, "chunk_blocks", chunk_blocks)
    kb = sandbox.kb(sandbox.admin_a, "docs")
    docs = files() | {"broken.pdf": b"%PDF-1.7\nnot really", "odd.md": b"# Odd\n\nTRIP-THE-BUG\n"}
    changed = sandbox.add(sandbox.admin_a, kb, docs)
    lines: list[str] = []
    result = ingest_documents(
        sandbox.db, sandbox.settings, "t_a", kb, changed, progress=lambda f, m, *_: lines.append(m)
    )
    assert result["indexed"] == 5 and result["failed"] == 2, result
    with sandbox.db.session() as s:
        status = {d.filename: (d.status, d.error) for d in s.scalars(select(KbDocument))}
    assert status["broken.pdf"][0] == "failed" and "PDF" in (status["broken.pdf"][1] or "")
    assert status["odd.md"] == ("failed", "The document could not be processed (KeyError)")
    assert all(status[name][0] == "ready" for name in files())
    assert any("odd.md failed: The document could not be processed" in m for m in lines)
    from aigc.knowledge.retrieve import search

    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "GlobalProtect VPN")
    assert hits and hits[0].filename == "notes.html"


def test_in_a_long_job_finished_files_turn_ready_one_by_one(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the console's document list and ``GET …/documents`` show while a job runs: a
    file already done is ``ready`` (and searchable) before the job ends."""
    monkeypatch.setattr(ingest, "SYNC_EVERY_S", 0.0)  # every document, not once a minute
    kb = sandbox.kb(sandbox.admin_a, "docs")
    changed = sandbox.add(sandbox.admin_a, kb, files())
    ready_when: dict[int, int] = {}

    def watch(fraction: float, message: str, *_named: object) -> None:
        if m := re.match(r"document (\d) of 5: ", message):
            with sandbox.db.session() as s:
                statuses = s.scalars(select(KbDocument.status)).all()
            ready_when[int(m.group(1))] = sum(st == "ready" for st in statuses)

    ingest_documents(sandbox.db, sandbox.settings, "t_a", kb, changed, progress=watch)
    assert ready_when == {1: 0, 2: 1, 3: 2, 4: 3, 5: 4}
    with sandbox.db.session() as s:
        assert set(s.scalars(select(KbDocument.status))) == {"ready"}


def test_nul_characters_are_taken_out_of_the_text(sandbox: Sandbox) -> None:
    """A text file with NUL bytes (a log with binary junk, a file saved by an odd tool): NUL
    means nothing in text and PostgreSQL cannot store it; the whole job failed there."""
    kb = sandbox.kb(sandbox.admin_a, "docs")
    changed = sandbox.add(sandbox.admin_a, kb, {"junk.log": b"disk\x00 full on node-7\x00\x00\n"})
    result = ingest_documents(sandbox.db, sandbox.settings, "t_a", kb, changed)
    assert result["indexed"] == 1, result
    texts = [t for _, t, _ in chunks_by_file(sandbox, kb)["junk.log"]]
    assert texts and all("\x00" not in t for t in texts)
    assert "disk full on node-7" in " ".join(texts)


def test_a_document_whose_text_cannot_be_stored_fails_alone(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refusing one document's text (PostgreSQL's DataError, raised here for
    one file) fails that document with a reason; the others are indexed, and none is left
    "indexing" (the job used to fail and leave them so until the stuck-document sweep)."""
    from sqlalchemy.exc import DataError

    real = ingest._store_chunks

    def store(db: Any, settings: Any, tenant: str, kb_id: str, doc: Any, *args: Any) -> bool:
        if doc.name == "notes.html":
            raise DataError("INSERT …", {}, ValueError("text the column cannot hold"))
        return real(db, settings, tenant, kb_id, doc, *args)

    monkeypatch.setattr(ingest, "_store_chunks", store)
    kb = sandbox.kb(sandbox.admin_a, "docs")
    changed = sandbox.add(sandbox.admin_a, kb, files())
    result = ingest_documents(sandbox.db, sandbox.settings, "t_a", kb, changed)
    assert result["indexed"] == 4 and result["failed"] == 1, result
    with sandbox.db.session() as s:
        status = {d.filename: (d.status, d.error) for d in s.scalars(select(KbDocument))}
    assert status["notes.html"] == (
        "failed",
        "The document's text could not be stored (ValueError)",
    )
    assert all(status[name][0] == "ready" for name in files() if name != "notes.html")
