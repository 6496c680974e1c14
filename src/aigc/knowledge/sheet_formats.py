"""Which cells of a binary spreadsheet (.xls, .ods) the sheet shows as percentages.

calamine (``pdf_worker.read_sheets``) reads values without their number formats, so a growth
rate shown as 15.3% was indexed and quoted as 0.153. An .xls file keeps each cell's format in
its XF record (read by xlrd, the reader made for that format); an .ods file says so in the
cell itself (``office:value-type="percentage"``). Positions are (row, column), 0-based, from
the sheet's first cell, per sheet name. Runs in the capped worker with the rest of the sheet;
a file these readers cannot read keeps its plain values (an empty answer), never a refusal.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile

Positions = dict[str, set[tuple[int, int]]]

_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')  # literal text, escaped characters, [colours]
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
log = logging.getLogger(__name__)


def percent_cells(data: bytes, budget: int) -> Positions:
    """The percentage cells of an .xls or .ods file (an .xlsb: none), at most ``budget``;
    only the worker's binary sheets come here, told apart as ``parse`` tells them (a zip, or
    the Office 97-2003 container that xlrd reads)."""
    try:
        return _ods(data, budget) if data[:4] == b"PK\x03\x04" else _xls(data, budget)
    except Exception as exc:  # a reader's failure costs the formats, not the file
        log.info("number formats not read (%s): values as stored", type(exc).__name__)
        return {}


def is_percent_format(code: str) -> bool:
    """Whether an Excel number format shows its value times 100 with a % (``0.0%``), not a
    literal "%" (``0"%"``)."""
    return "%" in _QUOTED.sub("", code)


def _xls(data: bytes, budget: int) -> Positions:
    import xlrd

    with open(os.devnull, "w") as quiet:  # xlrd writes its warnings to a log file
        book = xlrd.open_workbook(
            file_contents=data, formatting_info=True, on_demand=True, logfile=quiet
        )
    try:
        percent_xfs = {
            index
            for index, xf in enumerate(book.xf_list)
            if (found := book.format_map.get(xf.format_key)) and is_percent_format(found.format_str)
        }
        out: Positions = {}
        for name in book.sheet_names() if percent_xfs else []:
            sheet = book.sheet_by_name(name)
            cells = out.setdefault(name, set())
            for row in range(sheet.nrows):
                budget -= sheet.row_len(row)
                if budget < 0:
                    return out
                for column, kind in enumerate(sheet.row_types(row)):
                    if (
                        kind == xlrd.XL_CELL_NUMBER
                        and sheet.cell_xf_index(row, column) in percent_xfs
                    ):
                        cells.add((row, column))
            book.unload_sheet(name)
        return out
    finally:
        book.release_resources()


def _ods(data: bytes, budget: int) -> Positions:
    from lxml import etree

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if "content.xml" not in archive.namelist():
            return {}  # an .xlsb: its formats are not read
        content = archive.read("content.xml")
    out: Positions = {}
    cells: set[tuple[int, int]] = set()
    row = 0
    events = etree.iterparse(
        io.BytesIO(content), events=("start", "end"), resolve_entities=False, no_network=True
    )
    for event, element in events:
        if event == "start" and element.tag == f"{{{_TABLE}}}table":
            cells, row = out.setdefault(element.get(f"{{{_TABLE}}}name", ""), set()), 0
        elif event == "end" and element.tag == f"{{{_TABLE}}}table-row":
            rows = int(element.get(f"{{{_TABLE}}}number-rows-repeated", "1"))
            column = 0
            for cell in element:
                columns = int(cell.get(f"{{{_TABLE}}}number-columns-repeated", "1"))
                if cell.get(f"{{{_OFFICE}}}value-type") == "percentage":
                    budget -= rows * columns
                    if budget < 0:
                        return out
                    cells.update((row + r, column + c) for r in range(rows) for c in range(columns))
                column += columns
            row += rows
            element.clear()
    return out
