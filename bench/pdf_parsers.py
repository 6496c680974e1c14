"""pypdf against PDFium (pypdfium2) on the FinanceBench filings: time, pages with text, failures.

    .venv/bin/python bench/pdf_parsers.py [--files N] [--parsers pdfium pypdf]

Reads ``../shared/data/retrieval/financebench/pdfs`` (the shared data beside the checkout).
Each parser reads each file in this process, text only (no OCR). pypdf runs as the ingester
used it (``strict=False``, ``extraction_mode="layout"``, ``decrypt("")`` for owner-password
files); PDFium as ``knowledge/pdf_worker`` does (text runs joined into lines). A page "has
text" with at least 20 letters or digits. Writes ``bench/results/pdf_parsers.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PDFS = ROOT.parent / "shared" / "data" / "retrieval" / "financebench" / "pdfs"


def alnum(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def pypdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        reader.decrypt("")
    return [page.extract_text(extraction_mode="layout") for page in reader.pages]


def pdfium_pages(data: bytes) -> list[str]:
    import pypdfium2 as pdfium

    from aigc.knowledge.pdf_layout import page_text

    pdf = pdfium.PdfDocument(data)
    try:
        return [page_text(pdf[i].get_textpage()) for i in range(len(pdf))]
    finally:
        pdf.close()


def measure(name: str, read: Callable[[bytes], list[str]], files: list[Path]) -> dict[str, Any]:
    rows = []
    for path in files:
        start = time.perf_counter()
        try:
            pages = read(path.read_bytes())
            error = None
        except Exception as exc:  # a parser's failure is a result here
            pages, error = [], f"{type(exc).__name__}: {exc}"[:200]
        seconds = time.perf_counter() - start
        rows.append(
            {
                "file": path.name,
                "seconds": round(seconds, 3),
                "pages": len(pages),
                "pages_with_text": sum(alnum(p) >= 20 for p in pages),
                "error": error,
            }
        )
        print(
            f"{name:7} {path.name:45} {seconds:7.2f}s {rows[-1]['pages_with_text']:4}/"
            f"{len(pages):<4} {error or ''}",
            flush=True,
        )
    return {
        "parser": name,
        "files": rows,
        "seconds": round(sum(r["seconds"] for r in rows), 2),
        "pages": sum(r["pages"] for r in rows),
        "pages_with_text": sum(r["pages_with_text"] for r in rows),
        "failures": sum(r["error"] is not None for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=0, help="only the first N files")
    parser.add_argument(
        "--parsers", nargs="+", choices=["pdfium", "pypdf"], default=["pdfium", "pypdf"]
    )
    args = parser.parse_args()
    files = sorted(PDFS.glob("*.pdf"))[: args.files or None]
    if not files:
        raise SystemExit(f"no PDFs under {PDFS}: put the shared data beside this checkout")
    readers = {"pdfium": pdfium_pages, "pypdf": pypdf_pages}
    results = [measure(name, readers[name], files) for name in args.parsers]
    for r in results:
        print(
            f"{r['parser']}: {r['seconds']} s, {r['pages_with_text']}/{r['pages']} pages with "
            f"text, {r['failures']} failures"
        )
    out = ROOT / "bench" / "results" / "pdf_parsers.json"
    out.write_text(
        json.dumps(
            {
                "machine": {"python": platform.python_version(), "platform": platform.platform()},
                "versions": {name: version(name) for name in ("pypdf", "pypdfium2")},
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
