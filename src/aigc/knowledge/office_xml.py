"""Office 2003 XML files: SpreadsheetML and WordprocessingML in one XML file, not a zip.

Java and .NET systems "export to Excel" by writing Excel 2003's XML spreadsheet (a
``<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">``) and naming it .xls; some
write Word 2003's XML document as .doc. Excel and Word open both without a word; read as text
they were tags. A sheet's rows are read as every sheet is (``parse._sheet_blocks``), a cell
placed by its ``ss:Index`` and a cell merged down (``ss:MergeDown``) standing in each row it
covers (as a sheet's merges do, ``parse._fill_merged``); a Word document's paragraphs in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from aigc.knowledge import safe_xml

if TYPE_CHECKING:
    pass

SPREADSHEET = "urn:schemas-microsoft-com:office:spreadsheet"
WORD = "http://schemas.microsoft.com/office/word/2003/wordml"
_MAX_COLUMNS = 16384  # Excel's own
_MAX_GAP = 10_000  # rows a file may skip at once, or a merge cover


def kind(probe: str) -> str | None:
    """``"xlsxml"`` or ``"docxml"`` for the start of an Office 2003 XML file, else None."""
    if not probe.lstrip().startswith("<?xml"):
        return None
    if SPREADSHEET in probe:
        return "xlsxml"
    if WORD in probe:
        return "docxml"
    return None


def sheets(data: bytes) -> Iterator[tuple[str, list[list[str]], list[tuple[int, int, int]]]]:
    """Each worksheet's name, its rows of cell texts, and its cells merged down as (column,
    top row, bottom row), 1-based, for ``parse._fill_merged``."""
    ss = f"{{{SPREADSHEET}}}"
    for sheet in safe_xml.parse(data).iter(f"{ss}Worksheet"):
        rows: list[list[str]] = []
        merges: list[tuple[int, int, int]] = []
        for row in sheet.iter(f"{ss}Row"):
            number = _number(row.get(f"{ss}Index"), len(rows) + 1, len(rows) + _MAX_GAP)
            rows.extend([] for _ in range(number - 1 - len(rows)))  # rows the file leaves out
            cells: dict[int, str] = {}
            column = 0
            for cell in row.iter(f"{ss}Cell"):
                column = _number(cell.get(f"{ss}Index"), column + 1, _MAX_COLUMNS)
                found = cell.find(f"{ss}Data")
                cells[column] = "".join(found.itertext()).strip() if found is not None else ""
                down = _number(cell.get(f"{ss}MergeDown"), 0, _MAX_GAP)
                if down:
                    merges.append((column, number, number + down))
                column += _number(cell.get(f"{ss}MergeAcross"), 0, _MAX_COLUMNS)
            rows.append([cells.get(c, "") for c in range(1, max(cells, default=0) + 1)])
        yield sheet.get(f"{ss}Name") or "", rows, merges


def _number(value: str | None, default: int, most: int) -> int:
    return max(0, min(safe_xml.integer(value, default), most))


def paragraphs(data: bytes) -> Iterator[str]:
    """A Word 2003 XML document's paragraphs, tables' included, in order."""
    w = f"{{{WORD}}}"
    for paragraph in safe_xml.parse(data).iter(f"{w}p"):
        text = "".join(t.text or "" for t in paragraph.iter(f"{w}t")).strip()
        if text:
            yield text
