"""Ingestion: generated PDF/DOCX/HTML folders, incremental re-index, bad files failing alone."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aigc.errors import InvalidRequest
from aigc.knowledge import parse
from aigc.knowledge.ingest import (
    add_document,
    delete_document,
    document_view,
    ingest_documents,
    list_documents,
)
from aigc.knowledge.retrieve import search
from aigc.knowledge.tables import KbChunk, KbDocument

from .conftest import Sandbox

MSMARCO = Path(__file__).resolve().parents[3] / "shared" / "data" / "retrieval" / "msmarco"


def make_pdf(pages: list[list[str]], table: list[list[str]] | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
        if table and len(pdf.pages) == 1:
            with pdf.table() as t:
                for row in table:
                    r = t.row()
                    for cell in row:
                        r.cell(cell)
    return bytes(pdf.output())


def make_docx(heading: str, paragraphs: list[str], table: list[list[str]]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for i, row in enumerate(table):
        for j, value in enumerate(row):
            grid.cell(i, j).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb_docx() -> bytes:
    """A DOCX-shaped zip whose document part expands 1000x (50 MB of zeros)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (50 * 1024 * 1024))
    return out.getvalue()


def traversal_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("../../etc/evil.xml", "<x/>")
    return out.getvalue()


def folder() -> dict[str, bytes]:
    table = [["Plan", "Price", "Seats"], ["Basic", "10 USD", "5"], ["Enterprise", "990 USD", "500"]]
    return {
        "handbook.pdf": make_pdf(
            [
                ["Expense policy.", "Meals on business trips are reimbursed up to 60 USD a day."],
                ["Security policy.", "Laptops must use full disk encryption at all times."],
            ],
            table=table,
        ),
        "onboarding.docx": make_docx(
            "Onboarding",
            [
                "New employees receive a badge on their first day.",
                "The IT desk sets up email within two hours.",
            ],
            [["Week", "Task"], ["1", "Meet the mentor"], ["2", "Ship a first change"]],
        ),
        "faq.html": (
            b"<html><head><script>var secret=1</script></head><body><h1>FAQ</h1>"
            b"<h2>Parking</h2><p>Visitors park in lot C behind the cafeteria.</p>"
            b"<table><tr><th>Lot</th><th>Hours</th></tr><tr><td>C</td><td>7-19</td></tr></table>"
            b"</body></html>"
        ),
    }


def test_generated_folder_is_ingested_with_pages_headings_and_table_rows(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "docs", dense=False)
    result = sandbox.ingest(sandbox.admin_a, kb, folder())
    assert result["indexed"] == 3 and result["failed"] == 0
    with sandbox.db.session() as s:
        disk = search(s, sandbox.settings, sandbox.admin_a, [kb], "full disk encryption laptops")
        assert disk[0].filename == "handbook.pdf" and disk[0].page == 2
        plan = search(s, sandbox.settings, sandbox.admin_a, [kb], "Enterprise plan price")
        assert plan[0].filename == "handbook.pdf" and plan[0].page == 1
        assert "Enterprise | 990 USD | 500" in plan[0].text  # the table row stays a row
        badge = search(s, sandbox.settings, sandbox.admin_a, [kb], "badge first day")
        assert badge[0].filename == "onboarding.docx" and badge[0].headings == ["Onboarding"]
        mentor = search(s, sandbox.settings, sandbox.admin_a, [kb], "mentor")
        assert "1 | Meet the mentor" in mentor[0].text
        park = search(s, sandbox.settings, sandbox.admin_a, [kb], "where do visitors park")
        assert park[0].headings == ["FAQ", "Parking"]
        assert not search(s, sandbox.settings, sandbox.admin_a, [kb], "secret var")


def test_unchanged_reupload_is_a_no_op_and_a_change_reindexes_only_itself(
    sandbox: Sandbox,
) -> None:
    kb = sandbox.kb(sandbox.admin_a, "docs", dense=False)
    files = folder()
    sandbox.ingest(sandbox.admin_a, kb, files)
    with sandbox.db.session() as s:
        before = {c.id: c.document_id for c in s.scalars(select(KbChunk))}
    assert sandbox.add(sandbox.admin_a, kb, files) == []  # nothing changed: nothing queued
    changed = dict(files, **{"faq.html": b"<h1>FAQ</h1><p>Parking moved to lot D.</p>"})
    queued = sandbox.add(sandbox.admin_a, kb, changed)
    assert len(queued) == 1
    result = ingest_documents(sandbox.db, sandbox.settings, "t_a", kb, queued)
    assert result["indexed"] == 1
    with sandbox.db.session() as s:
        after = {c.id: c.document_id for c in s.scalars(select(KbChunk))}
        kept = {cid for cid, doc in before.items() if doc != queued[0]}
        assert kept <= after.keys()  # the other documents' chunks were not touched
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "parking lot")
        assert hits[0].text.endswith("Parking moved to lot D.")
        assert all("lot C" not in h.text for h in hits)
    delete_document(sandbox.db, sandbox.settings, sandbox.admin_a, kb, queued[0])
    with sandbox.db.session() as s:
        assert not search(s, sandbox.settings, sandbox.admin_a, [kb], "parking lot D")


def test_corrupt_pdf_and_zip_bomb_fail_alone_with_a_clear_reason(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "docs", dense=False)
    files = folder() | {
        "broken.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage without xref",
        "bomb.docx": zip_bomb_docx(),
        "escape.docx": traversal_docx(),
    }
    result = sandbox.ingest(sandbox.admin_a, kb, files)
    assert result["indexed"] == 3 and result["failed"] == 3
    with sandbox.db.session() as s:
        docs = {d.filename: d for d in list_documents(s, sandbox.admin_a, kb)}
    assert docs["broken.pdf"].status == "failed" and "PDF" in (docs["broken.pdf"].error or "")
    assert "zip bomb" in (docs["bomb.docx"].error or "")
    assert "unsafe path" in (docs["escape.docx"].error or "")
    assert all(docs[name].status == "ready" for name in folder())


def test_path_traversal_names_and_unknown_types_are_refused(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "docs", dense=False)
    with sandbox.db.session() as s:
        for name in ("../../etc/passwd.txt", "a/b.txt", "..\\x.txt"):
            with pytest.raises(InvalidRequest, match="path"):
                add_document(s, sandbox.settings, sandbox.admin_a, kb, name, [b"x"])
        with pytest.raises(InvalidRequest, match="Unsupported"):
            add_document(s, sandbox.settings, sandbox.admin_a, kb, "run.exe", [b"MZ"])


def test_pdf_page_limit(sandbox: Sandbox) -> None:
    data = make_pdf([["one"], ["two"], ["three"]])
    with pytest.raises(parse.DocumentRejected, match="3 pages; the limit is 2"):
        parse.parse(data, "pdf", parse.Limits(max_pages=2))


@pytest.mark.skipif(not MSMARCO.exists(), reason="shared data absent")
def test_msmarco_corpus_is_ingested_and_searchable(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "msmarco", dense=False)
    data = (MSMARCO / "corpus.jsonl").read_bytes()
    result = sandbox.ingest(sandbox.admin_a, kb, {"corpus.jsonl": data})
    assert result["indexed"] == 1 and result["chunks"] >= 5000
    qrels: dict[str, set[str]] = {}
    for line in (MSMARCO / "qrels" / "test.tsv").read_text().splitlines():
        qid, pid, grade = line.split("\t")
        if int(grade) > 0:
            qrels.setdefault(qid, set()).add(pid)
    queries = [json.loads(x) for x in (MSMARCO / "queries.jsonl").read_text().splitlines()]
    judged = [q for q in queries if q["_id"] in qrels][:10]
    found = 0
    with sandbox.db.session() as s:
        assert s.scalar(select(func.count()).select_from(KbChunk)) == result["chunks"]
        for q in judged:
            hits = search(s, sandbox.settings, sandbox.admin_a, [kb], q["text"], top_k=10)
            found += any(h.meta.get("id") in qrels[q["_id"]] for h in hits)
    assert found >= 7  # BM25 recall@10 on this set is ~0.9


def test_text_files_in_legacy_encodings_are_ingested_as_written(sandbox: Sandbox) -> None:
    """A Big5 handbook from the Taiwan office, an Excel "Unicode text" export (UTF-16) and a
    UTF-8 file with one broken byte are all indexed as what they say, each reading noted;
    before, the first was stored as GB18030 nonsense and the other two were refused."""
    handbook = (
        "員工每年享有十天帶薪年假，到職滿一年後可以申請。年假應當在人事系統中提前三個工作日提交，"
        "由直屬主管審批。未休完的年假可以順延至次年三月底，逾期作廢。"
    )
    table = "部門,假別,天數\n人事部,帶薪年假,十天\n研發部,陪產假,十五天\n"
    damaged = "Meals on business trips are reimbursed up to 60 USD a day. 出差餐费每天六十美元。"
    raw = damaged.encode()
    kb = sandbox.kb(sandbox.admin_a, "docs", dense=False)
    files = {
        "handbook-tw.txt": handbook.encode("big5"),
        "leave.csv": table.encode("utf-16"),
        "meals.md": raw[:20] + b"\xff" + raw[20:],
        "photo.txt": bytes(range(256)) * 16,
    }
    result = sandbox.ingest(sandbox.admin_a, kb, files)
    assert result["indexed"] == 3 and result["failed"] == 1
    with sandbox.db.session() as s:
        docs = {d.filename: d for d in list_documents(s, sandbox.admin_a, kb)}
        notes = {name: result["notes"].get(doc.id, []) for name, doc in docs.items()}
        assert notes["handbook-tw.txt"] == ["read as big5 text (the file is not UTF-8)"]
        assert notes["leave.csv"] == ["read as utf-16 text (the file is not UTF-8)"]
        assert "not valid UTF-8 were replaced" in notes["meals.md"][0]
        assert "save it as UTF-8" in (docs["photo.txt"].error or "")
        # kept on the document, for the API's and the console's document list
        assert document_view(docs["handbook-tw.txt"])["notes"] == notes["handbook-tw.txt"]
        assert document_view(docs["photo.txt"])["notes"] == []
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "帶薪年假 順延")
        assert hits[0].filename == "handbook-tw.txt" and "逾期作廢" in hits[0].text
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "陪產假 天數")
        assert hits[0].filename == "leave.csv" and "十五天" in hits[0].text
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "meals reimbursed")
        assert hits[0].filename == "meals.md" and "出差餐费每天六十美元" in hits[0].text


def test_copies_of_a_file_fill_one_place_in_the_results(sandbox: Sandbox) -> None:
    """Three copies of a policy (差旅费管理办法(1).txt, 副本-…) filled three of the sources of
    a grounded answer with one chunk, leaving no room for the other policy."""
    kb = sandbox.kb(sandbox.admin_a, "copies", dense=False)
    policy = "第一条 员工出差住宿费一线城市每晚不超过600元。\n\n第二条 伙食补助每天100元。".encode()
    other = "加班管理办法：加班住宿按出差标准报销，每晚不超过600元。".encode()
    files = {
        "差旅费管理办法.txt": policy,
        "差旅费管理办法(1).txt": policy,
        "副本-差旅费管理办法.txt": policy,
        "加班管理办法.txt": other,
    }
    assert sandbox.ingest(sandbox.admin_a, kb, files)["indexed"] == 4
    with sandbox.db.session() as s:
        hits = search(
            s, sandbox.settings, sandbox.admin_a, [kb], "一线城市住宿费和伙食补助", top_k=2
        )
    assert sorted(h.text.replace("\n", "") for h in hits) == sorted(
        [policy.decode().replace("\n", ""), other.decode()]
    )
    with sandbox.db.session() as s:
        notes = {d.filename: d.notes for d in s.scalars(select(KbDocument))}
    assert notes["副本-差旅费管理办法.txt"] == [
        "the same file as 差旅费管理办法(1).txt, 差旅费管理办法.txt in this knowledge base; "
        "a search shows one copy"
    ]
    assert notes["加班管理办法.txt"] is None
