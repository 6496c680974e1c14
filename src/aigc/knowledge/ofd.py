"""OFD files (GB/T 33190): the fixed-layout format of China's e-invoices and official documents.

An OFD is a zip of XML: ``OFD.xml`` names each document's ``Document.xml``, which lists its
pages and the template pages they draw on; a page draws text objects at positions in
millimetres. An e-invoice keeps its printed labels (购买方名称, 金额) in a template page and the
filled-in values in the page itself, so both are read, and the text is put back into lines
by position, top to bottom and left to right, as the page shows it. Seals, signatures and
pictures are not read (a scanned OFD page has no text to read here).
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aigc.knowledge import safe_xml

if TYPE_CHECKING:
    from lxml.etree import _Element

NS = "{http://www.ofdspec.org/2016}"


@dataclass(frozen=True)
class Run:
    """A piece of text where a page draws it: its baseline (y) and start (x), in mm."""

    y: float
    x: float
    size: float
    text: str


def pages(data: bytes, max_pages: int) -> Iterator[tuple[int, str]]:
    """Each page's number and its text as lines, across the file's documents."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = safe_xml.zip_part(archive, "OFD.xml")
        number = 0
        for doc_root in root.iter(f"{NS}DocRoot"):
            document_path = _path("", doc_root.text or "")
            document = safe_xml.zip_part(archive, document_path)
            base = posixpath.dirname(document_path)
            templates = {
                t.get("ID", ""): _path(base, t.get("BaseLoc", ""))
                for t in document.iter(f"{NS}TemplatePage")
            }
            for page in document.iter(f"{NS}Page"):
                number += 1
                if number > max_pages:
                    raise ValueError(f"The OFD has more than {max_pages} pages, the limit")
                content = safe_xml.zip_part(archive, _path(base, page.get("BaseLoc", "")))
                runs: list[Run] = []
                for used in content.iter(f"{NS}Template"):
                    template = templates.get(used.get("TemplateID", ""))
                    if template:
                        runs += _runs(safe_xml.zip_part(archive, template))
                runs += _runs(content)
                yield number, lines(runs)


def _path(base: str, location: str) -> str:
    """A part's name in the zip: locations are relative to the file that names them, or
    absolute from the package root."""
    location = location.strip()
    if location.startswith("/"):
        return posixpath.normpath(location.lstrip("/"))
    return posixpath.normpath(posixpath.join(base, location))


def _runs(page: _Element) -> list[Run]:
    runs = []
    for obj in page.iter(f"{NS}TextObject"):
        boundary = [*_numbers(obj.get("Boundary", "")), 0.0, 0.0]
        left, top = boundary[0], boundary[1]
        size = (_numbers(obj.get("Size", "")) or [3.5])[0]
        for code in obj.iter(f"{NS}TextCode"):
            text = code.text or ""
            if text.strip():
                x = (_numbers(code.get("X", "")) or [0.0])[0]
                y = (_numbers(code.get("Y", "")) or [0.0])[0]
                runs.append(Run(top + y, left + x, size, text))
    return runs


def _numbers(text: str) -> list[float]:
    out = []
    for part in text.split():
        try:
            out.append(float(part))
        except ValueError:
            break
    return out


def lines(runs: list[Run]) -> str:
    """Runs as the page shows them: those on one baseline (within half a character) form a
    line, left to right, a space where a gap is wider than a character; a blank line where
    lines stand more than two lines apart."""
    rows: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: (r.y, r.x)):
        if rows and abs(run.y - rows[-1][0].y) <= run.size / 2:
            rows[-1].append(run)
        else:
            rows.append([run])
    out: list[str] = []
    previous_y: float | None = None
    for row in rows:
        row.sort(key=lambda r: r.x)
        text, end = "", None
        for run in row:
            if end is not None and run.x - end > run.size:
                text += " "
            text += run.text
            end = run.x + _width(run)
        if previous_y is not None and row[0].y - previous_y > 2.5 * row[0].size:
            out.append("")
        out.append(text.strip())
        previous_y = row[0].y
    return "\n".join(out)


def _width(run: Run) -> float:
    """A run's width, near enough: a full em for a Chinese character, about half for others."""
    return sum(run.size if ord(ch) > 0x2E7F else run.size * 0.55 for ch in run.text)
