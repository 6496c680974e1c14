"""How often an uploaded text file in a non-UTF-8 encoding is read as what it says.

Real Chinese documents of ``../shared/data/retrieval/zh_docs`` (the Markdown laws and product
docs, simplified; the W3C document's traditional-Chinese copy), cut into pieces of 30 to
10,000 characters at seeded random places, each piece saved in an encoding Chinese offices
use (GBK, GB18030, Big5, UTF-16 with its byte order mark) or as UTF-8 with one stray byte. A
piece counts as read when the decoded text is the piece (for the damaged UTF-8 ones: the
piece with one character more where the stray byte was). Two readers: the one ingestion used before
(``UTF-8, else GB18030, else refuse``) and ``infra.text_encoding.decode``.

    .venv/bin/python bench/text_encodings.py   # a table; bench/results/text_encodings.json
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.benchlib import machine  # noqa: E402

from aigc.infra import text_encoding  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "retrieval" / "zh_docs"
RESULTS = ROOT / "bench" / "results"
LENGTHS = (30, 120, 400, 2000, 10000)
PIECES = 60  # per encoding and length


def before(data: bytes) -> str | None:
    """Ingestion's reader until 2026-12-05."""
    for name in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            continue
    return None


def now(data: bytes) -> str | None:
    try:
        return text_encoding.decode(data).text
    except text_encoding.UndecodableText:
        return None


def texts() -> dict[str, str]:
    from bs4 import BeautifulSoup

    simplified = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.md")))
    page = BeautifulSoup((DATA / "w3c_clreq_index.html").read_text(encoding="utf-8"), "html.parser")
    traditional = "\n".join(e.get_text() for e in page.select('[lang="zh-hant"]'))
    return {"simplified": simplified, "traditional": traditional}


def survives(out: str | None, piece: str) -> bool:
    """Whether every character of ``piece`` was read: ``out`` is the piece, or the piece with
    one character more (the stray byte, as U+FFFD or as a character of a single-byte
    encoding: an ASCII text with one byte 0xFF is as much Windows-1252 as broken UTF-8)."""
    if out is None or out == piece:
        return out is not None
    if len(out) != len(piece) + 1:
        return False
    i = next((i for i, (a, b) in enumerate(zip(out, piece, strict=False)) if a != b), len(piece))
    return out[:i] + out[i + 1 :] == piece


def damaged_utf8(piece: str) -> bytes:
    data = piece.encode()
    cut = len(data) // 2
    while cut < len(data) and data[cut] & 0xC0 == 0x80:  # between two characters
        cut += 1
    return data[:cut] + b"\xff" + data[cut:]


CASES: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "GBK": ("simplified", lambda t: t.encode("gbk")),
    "GB18030": ("simplified", lambda t: t.encode("gb18030")),
    "Big5": ("traditional", lambda t: t.encode("big5")),
    "UTF-16 (BOM)": ("simplified", lambda t: t.encode("utf-16")),
    "UTF-8, one stray byte": ("simplified", damaged_utf8),
}


def _holds(save: Callable[[str], bytes], ch: str) -> bool:
    """Whether the encoding has ``ch`` (Big5 lacks a few of the W3C page's characters: a
    Big5 file could not hold them, so the pieces are cut from the text without them)."""
    try:
        save(ch)
    except UnicodeEncodeError:
        return False
    return True


def run() -> dict:
    corpus = texts()
    rng = random.Random(7)
    rows = []
    for case, (source, save) in CASES.items():
        text = "".join(ch for ch in corpus[source] if _holds(save, ch))
        for length in LENGTHS:
            read = {"before": 0, "now": 0}
            n = 0
            while n < PIECES:
                start = rng.randrange(0, max(1, len(text) - length))
                piece = text[start : start + length]
                data = save(piece)
                if case != "UTF-16 (BOM)" and data.isascii():
                    continue  # nothing to tell
                n += 1
                for name, reader in (("before", before), ("now", now)):
                    read[name] += survives(reader(data), piece)
            rows.append({"encoding": case, "characters": length, "pieces": n, **read})
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(["charset_normalizer"]),
        "rows": rows,
    }


def table(report: dict) -> str:
    lines = [
        "| encoding | characters | pieces | read exactly, before | read exactly, now |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        cells = [r["encoding"], r["characters"], r["pieces"]]
        cells += [f"{r[k]} ({r[k] / r['pieces']:.0%})" for k in ("before", "now")]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    report = run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "text_encodings.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
