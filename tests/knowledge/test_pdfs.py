"""Real PDFs that break naive parsers, and real SEC filings (the shared data beside the checkout).

Every file in ``odd_pdfs/`` behaves as its manifest says: ``text_extracted`` gives its text,
``needs_ocr`` gives text read by Tesseract and marked ``ocr``, ``refuse`` is refused with a
reason that names the cause. Every FinanceBench filing parses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from aigc.knowledge import parse
from aigc.knowledge.grounding import citations, source_text
from aigc.knowledge.pdf_worker import PdfLimits
from aigc.knowledge.retrieve import search

from .conftest import Sandbox

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "retrieval"
ODD = DATA / "odd_pdfs"
FINANCE = DATA / "financebench"
needs_data = pytest.mark.skipif(not ODD.is_dir(), reason="shared odd_pdfs data is absent")
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract is not installed (OCR tests)"
)


def absent(what: str) -> list[Any]:
    """One skipped case instead of an empty parameter set, so the skip names its remedy."""
    return [pytest.param(None, marks=pytest.mark.skip(reason=f"shared {what} data is absent"))]


def manifest() -> list[Any]:
    if not (ODD / "manifest.json").is_file():
        return absent("odd_pdfs")
    files: list[Any] = json.loads((ODD / "manifest.json").read_text())["files"]
    return files


# What the text of a readable file must contain: the words each file's manifest names.
TEXT = {
    "qpdf_bad-xref.pdf": ["Potato"],
    "qpdf_bad2.pdf": ["Potato"],
    "qpdf_bad3.pdf": ["Potato"],
    "qpdf_append-xref-loop.pdf": ["Potato 0 new", "Potato 29"],
    "qpdf_enc-XI-R6-V5-O_master.pdf": ["Potato 0", "Potato 29"],
    "samplefiles_multicolumn.pdf": ["Two-Column Document", "Lorem"],
    "samplefiles_pdflatex-forms.pdf": ["Name", "Check"],
    "samplefiles_GeoTopo-komprimiert.pdf": ["Geometrie", "Topologie"],
    "pdfplumber_federal-register-2020-17221.pdf": ["Federal Register"],
    "pdfplumber_nics-background-checks-2015-11-rotated.pdf": ["Alabama | 18,870 | 23,022"],
    "pypdf_multilang.pdf": ["Hello World", "你好世界", "こんにちは世界", "Привет, мир"],
    "pdfassoc_pdf20-utf8-test.pdf": ["PDF 2.0 with UTF-8 test file"],
    "pdfassoc_pdf20-with-offset-start.pdf": ["This is a PDF 2.0 document"],
}
PAGES = {"samplefiles_GeoTopo-komprimiert.pdf": 117, "qpdf_append-xref-loop.pdf": 30}
# Words OCR must find on the scans (lower-cased); the truetype file's broken text layer only
# has to be replaced by OCR'd text.
OCR_TEXT = {
    "ocrmypdf_c02-22.pdf": ["garden"],
    "ocrmypdf_linn.pdf": ["linnsequencer"],
    "ocrmypdf_cardinal.pdf": ["linnsequencer", "midi"],
    "ocrmypdf_rotated_skew.pdf": ["linnsequencer"],
    "ocrmypdf_vector.pdf": ["vector", "ocr"],
    "ocrmypdf_enormous.pdf": ["megapixels"],
    "ocrmypdf_truetype_font_nomapping.pdf": [],
}
# The reason a refused file must give.
REFUSED = {
    "qpdf_20-pages.pdf": "needs a password",
    "qpdf_enc-XI-R6-V5-U_view-O_master.pdf": "needs a password",
    "samplefiles_libreoffice-writer-password.pdf": "needs a password",
    "ocrmypdf_invalid.pdf": "not a PDF",
    "ocrmypdf_hugemono.pdf": "image too large",
    "ocrmypdf_livecycle.pdf": "dynamic XFA form",
    "qpdf_deep-pages.pdf": "page tree is broken or nested too deeply",
    "qpdf_many-nulls.pdf": "No text could be extracted",
}
# The manifest allows "extract the single real page" for the looping page tree; PDFium does.
LOOP = "qpdf_pages-loop.pdf"


def read(name: str) -> parse.Parsed:
    return parse.parse_document((ODD / name).read_bytes(), "pdf")


@needs_data
@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"] if e else "absent")
def test_odd_pdf_behaves_as_its_manifest_says(entry: dict[str, Any]) -> None:
    name, expected = entry["file"], entry["expected_outcome"]
    if expected == "text_extracted":
        got = read(name)
        text = "\n".join(b.text for b in got.blocks)
        for words in TEXT[name]:
            assert words in text, (name, text[:500])
        assert not any(b.meta.get("ocr") for b in got.blocks)  # a text layer, not a scan
        assert len({b.page for b in got.blocks}) == PAGES.get(
            name, len({b.page for b in got.blocks})
        )
    elif expected == "needs_ocr":
        if shutil.which("tesseract") is None:
            pytest.skip("Tesseract is not installed (OCR tests)")
        got = read(name)
        assert got.blocks and all(b.meta.get("ocr") == "true" for b in got.blocks), name
        # Every page yields the words: cardinal.pdf holds one page in four orientations.
        for page in {b.page for b in got.blocks}:
            text = " ".join(b.text for b in got.blocks if b.page == page).lower()
            for word in OCR_TEXT[name]:
                assert word in text, (name, page, text[:500])
    elif name == LOOP:
        got = read(name)
        assert [(b.page, b.text) for b in got.blocks] == [(1, "Potato")]
    else:
        assert expected == "refuse"
        with pytest.raises(parse.DocumentRejected, match=REFUSED[name]):
            read(name)


@needs_data
def test_a_scan_without_tesseract_is_reported_not_indexed_empty(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the worker finds no tesseract binary
    with pytest.raises(
        parse.DocumentRejected,
        match=r"page 1 looks scanned and was not read: OCR \(Tesseract\) is not installed",
    ):
        read("ocrmypdf_linn.pdf")


@needs_data
def test_a_pdf_over_the_time_budget_is_stopped_with_a_reason() -> None:
    limits = parse.Limits(pdf=PdfLimits(timeout_s=0.01))
    with pytest.raises(parse.DocumentRejected, match="took longer than"):
        parse.parse_document(
            (ODD / "samplefiles_GeoTopo-komprimiert.pdf").read_bytes(), "pdf", limits
        )


@needs_data
@needs_tesseract
def test_ocr_out_of_time_is_reported_not_indexed_empty() -> None:
    """OCR may start no page once its share of the time budget is spent (none here)."""
    limits = parse.Limits(pdf=PdfLimits(ocr_share=0.0))
    with pytest.raises(parse.DocumentRejected, match="page 1 looks scanned; OCR stopped, out of"):
        parse.parse_document((ODD / "ocrmypdf_linn.pdf").read_bytes(), "pdf", limits)


@needs_data
@needs_tesseract  # the page is rendered only for OCR
def test_a_pdf_over_the_memory_cap_is_stopped_with_a_reason() -> None:
    """Rendering the 30-inch page for OCR decodes its 81-megapixel image: not within 150 MB."""
    limits = parse.Limits(pdf=PdfLimits(memory_mb=150))
    with pytest.raises(parse.DocumentRejected, match="needs more than 150 MB of memory"):
        parse.parse_document((ODD / "ocrmypdf_enormous.pdf").read_bytes(), "pdf", limits)


def finance_documents() -> list[Any]:
    if not FINANCE.is_dir():
        return absent("financebench")
    return [json.loads(line) for line in (FINANCE / "documents.jsonl").open()]


def evidence_pages(name: str) -> set[int]:
    """1-based pages that FinanceBench questions about ``name`` cite as evidence."""
    pages: set[int] = set()
    for line in (FINANCE / "questions.jsonl").open():
        q = json.loads(line)
        if Path(q["file"]).name == name:
            pages.update(p + 1 for p in q["evidence_pages"])
    return pages


@pytest.mark.parametrize(
    "doc", finance_documents(), ids=lambda d: Path(d["file"]).name if d else "absent"
)
def test_every_financebench_filing_parses_with_text_on_most_pages(doc: dict[str, Any]) -> None:
    """All 24 filings (nine encrypted with an empty user password, one of them AES-256), text
    layer only: OCR off keeps this a parse test. Every page a question cites has text."""
    path = FINANCE / doc["file"]
    limits = parse.Limits(pdf=PdfLimits(ocr=False))
    got = parse.parse_document(path.read_bytes(), "pdf", limits)
    pages = {b.page for b in got.blocks if any(c.isalnum() for c in b.text)}
    assert len(pages) >= 0.9 * doc["pages"], (path.name, len(pages), doc["pages"])
    assert evidence_pages(path.name) <= pages, path.name


@needs_data
@needs_tesseract
def test_a_scanned_page_is_cited_as_ocr(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "scans", dense=False)
    result = sandbox.ingest(
        sandbox.admin_a, kb, {"scan.pdf": (ODD / "ocrmypdf_vector.pdf").read_bytes()}
    )
    assert result["indexed"] == 1, result
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "sample vector PDF testing")
    assert hits and hits[0].meta == {"ocr": "true"} and hits[0].page == 1
    assert citations(hits)[0]["ocr"] is True
    # the title the OCR read off the page names the source too
    assert source_text(1, hits[0]).startswith(
        "[1] (Sample Vector PDF for Testing, scan.pdf, p. 1 (OCR))"
    )
    typed = sandbox.ingest(sandbox.admin_a, kb, {"typed.md": b"A sample vector of numbers."})
    assert typed["indexed"] == 1
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "sample vector numbers")
    assert hits[0].filename == "typed.md" and "ocr" not in citations(hits[:1])[0]
