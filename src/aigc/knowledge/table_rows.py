"""Table rows as text that stands on its own: each row with its column names.

A chunk may hold the fortieth row of a table and not its first, so a row such as
"一线城市 | 600 | 北京、上海" says nothing of what 600 is. When a table has a header row,
each later row reads "城市类别: 一线城市; 住宿标准（元/晚）: 600; 备注: 北京、上海", as
spreadsheet and CSV rows already do (``parse.parse_xlsx``, ``parse.parse_csv``).

A header row is one the file marks as such (Word's "repeat as header row", HTML's ``<th>`` or
``<thead>``, a PowerPoint table's first-row style), or, unmarked, a first row of three or more
short, distinct labels that are not numbers. Unmarked two-column tables are left as they are:
"姓名 | 张三" is already a label and its value, and its first row is data, not column names.
Other tables keep their cells joined by `` | `` (merged cells, which repeat their text, once).
"""

from __future__ import annotations

import re
from itertools import zip_longest

MAX_LABEL = 40  # characters: a column name longer than this is a cell of text
MIN_UNMARKED_COLUMNS = 3
_NUMBER = re.compile(r"^[\d\s.,:%+\-–/()$¥€£]*$")


def has_header(rows: list[list[str]], marked: bool = False) -> bool:
    """Whether the first of ``rows`` names the columns of the rest."""
    if len(rows) < 2 or not any(rows[0]):
        return False
    if marked:
        return True
    first = rows[0]
    return (
        len(first) >= MIN_UNMARKED_COLUMNS
        and all(first)
        and len(set(first)) == len(first)
        and all(len(cell) <= MAX_LABEL and not _NUMBER.match(cell) for cell in first)
    )


def row_texts(rows: list[list[str]], marked_header: bool = False) -> list[str]:
    """Each row as one line: with its column names when the table has a header row (which is
    then not a line of its own), else its cells joined by `` | ``. Cells are stripped text."""
    if not has_header(rows, marked_header):
        return [" | ".join(_once(row)) for row in rows]
    header, lines = rows[0], []
    for row in rows[1:]:
        pairs: list[tuple[str, str]] = []
        for name, value in zip_longest(header, row, fillvalue=""):
            if value and (not pairs or pairs[-1] != (name, value)):
                pairs.append((name, value))
        lines.append("; ".join(f"{name}: {value}" if name else value for name, value in pairs))
    return lines


def _once(cells: list[str]) -> list[str]:
    """Cells with a merged cell's repeated text once."""
    out: list[str] = []
    for cell in cells:
        if not out or out[-1] != cell:
            out.append(cell)
    return out
