"""PDF to blocks, read in a child process with a memory cap and a time budget.

A PDF can be a decompression bomb (a 12 KB file holding a 1.2-gigapixel image), loop in its
page tree or inflate to arrays of hundreds of thousands of elements. The parsing library runs
in native code, where no Python limit reaches, so ``pdf_worker`` runs in its own process: it
caps its address space, and this side kills it past ``timeout_s``. What it cannot read is a
``DocumentRejected`` with the reason; pages it read only partly come back as notes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from aigc.knowledge import failure_codes, note_codes
from aigc.knowledge.note_codes import Note
from aigc.knowledge.parse import Block, Bookmark, DocumentRejected, paragraphs
from aigc.knowledge.pdf_worker import PdfLimits
from aigc.knowledge.running_lines import without_running_lines


@dataclass
class PdfText:
    """The blocks of a PDF (``meta["ocr"] == "true"`` on pages read by OCR) and notes on pages
    that could not be read."""

    blocks: list[Block]
    notes: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)
    outline: list[Bookmark] = field(default_factory=list)


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the child imports aigc
    env["OMP_THREAD_LIMIT"] = "1"  # Tesseract: one core per page, the server has others to do
    return env


_WHAT = {"pdf": "the PDF", "image": "the image", "sheet": "the spreadsheet"}


def run_worker(data: bytes, limits: PdfLimits, mode: str = "pdf") -> dict[str, Any]:
    """The worker's JSON answer, or ``DocumentRejected`` when it died or ran out of time.
    ``mode``: "pdf", "image" (a file to read by OCR) or "sheet" (a binary spreadsheet)."""
    command = [sys.executable, "-m", "aigc.knowledge.pdf_worker", json.dumps(asdict(limits))]
    command += [] if mode == "pdf" else [mode]
    what = _WHAT[mode]
    try:
        done = subprocess.run(
            command,
            input=data,
            capture_output=True,
            timeout=limits.timeout_s,
            env=_worker_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DocumentRejected(
            f"Reading {what} took longer than {limits.timeout_s:.0f} s; it was stopped",
            failure_codes.READ_TIMEOUT,
            seconds=round(limits.timeout_s),
        ) from None
    if done.returncode != 0 or not done.stdout:
        # Out of memory shows in many ways (MemoryError, bad_alloc, a library that cannot be
        # mapped, a signal): all of them end the reading, none of them the server.
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise DocumentRejected(
            f"Reading {what} stopped: it needs more than {limits.memory_mb} MB of memory or "
            f"crashed the parser ({tail[0][:200]})",
            failure_codes.READ_OUT_OF_MEMORY,
            memory_mb=limits.memory_mb,
        )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _pages(numbers: list[int]) -> str:
    return (
        ("page " if len(numbers) == 1 else "pages ")
        + ", ".join(map(str, numbers[:20]))
        + (", …" if len(numbers) > 20 else "")
    )


def read_pdf(data: bytes, limits: PdfLimits, image: bool = False) -> PdfText:
    """Every page's paragraphs as blocks (each page starts a chunk), less the running heads
    and feet the pages repeat (``running_lines``), or ``DocumentRejected``.

    A PDF that yields no text at all is refused with what stood in the way (scanned pages
    without OCR, an image too large, a broken page tree), never indexed as empty. ``image``:
    an image file, each of its frames a page read by OCR."""
    answer = run_worker(data, limits, "image" if image else "pdf")
    if "refused" in answer:
        raise DocumentRejected(answer["refused"], answer["code"], **answer.get("values", {}))
    notes: list[str] = [
        Note(text, named["code"], **named["values"])
        for text, named in zip(answer["problems"], answer["problem_codes"], strict=True)
    ]
    unread: list[int] = answer["unread_scans"]
    if unread:
        verbs = "looks scanned and was" if len(unread) == 1 else "look scanned and were"
        notes.append(
            Note(
                f"{_pages(unread)} {verbs} not read: {answer['ocr_missing']}",
                note_codes.SCANNED_UNREAD,
                pages=unread[:20],
                more=len(unread) > 20,
                **(answer.get("ocr_missing_code") or {}),
            )
        )
    blocks: list[Block] = []
    ocr_pages: list[int] = []
    texts, _ = without_running_lines([page["text"] for page in answer["pages"]])
    for page, text in zip(answer["pages"], texts, strict=True):
        meta = {"ocr": "true"} if page["ocr"] else {}
        if page["ocr"]:
            ocr_pages.append(page["page"])
        for i, para in enumerate(paragraphs(text)):
            blocks.append(Block(para, page=page["page"], boundary=i == 0, meta=dict(meta)))
    if not any(b.text.strip() for b in blocks):
        why = "; ".join(notes) if notes else "its pages hold no text and nothing to read by OCR"
        what = "the image" if image else "the PDF"
        raise DocumentRejected(
            f"No text could be extracted from {what}: {why}"[:2000], failure_codes.NO_TEXT
        )
    outline = [Bookmark(m["level"], m["title"], m["page"]) for m in answer.get("outline", [])]
    return PdfText(blocks, notes, ocr_pages, outline)
