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

Spreadsheets and CSV files always have a header row (``labelled_rows``): the first row with two
or more cells filled. A single-cell line above it, the title an export puts over its table
("2024年差旅标准"), is a caption: a line of its own that the rows below are filed under, not
the column names (it was, and every row read "2024年差旅标准: 北京; : 600").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import zip_longest

MAX_LABEL = 40  # characters: a column name longer than this is a cell of text
MIN_UNMARKED_COLUMNS = 3
_NUMBER = re.compile(r"^[\d\s.,:%+\-–/()$¥€£]*$")
MAX_CAPTION_ROWS = 5  # more single-cell lines than this before a wider row: a one-column table


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
    header = rows[0]
    if len(rows) > 2 and (two_level := sub_header(header, rows[1])):
        return [labelled(two_level, row) for row in rows[2:]]
    return [labelled(header, row) for row in rows[1:]]


def sub_header(header: list[str], below: list[str]) -> list[str] | None:
    """The column names of a two-row header, or None: a group name over several columns (a
    merged cell: its text then blanks, or its text repeated in each column it covers), and
    the row below naming the columns in the group ("住宿标准" over "旺季" and "淡季"). Each
    column is then "住宿标准/旺季"; a column the top row alone names keeps that name. Read
    as one row, the sub-names became a data row and the group's other columns had no name
    (": 600")."""
    grouped: set[int] = set()  # columns that continue the group on their left
    for c in range(1, len(header)):
        continues = header[c - 1] or c - 1 in grouped
        if continues and (not header[c] or header[c] == header[c - 1]):
            grouped.add(c)
    labels = [cell for cell in below if cell]
    if not grouped or len(labels) < 2 or not any(c < len(below) and below[c] for c in grouped):
        return None
    if any(len(cell) > MAX_LABEL or _NUMBER.match(cell) for cell in labels):
        return None  # a row of values
    starts = {c - 1 for c in grouped} - grouped
    for c, top in enumerate(header):
        under = below[c] if c < len(below) else ""
        if top and c not in grouped and c not in starts and under not in ("", top):
            return None  # a column named on its own has a value below it: a data row
    names: list[str] = []
    group = ""
    for c in range(max(len(header), len(below))):
        top = header[c] if c < len(header) else ""
        group = top or (group if c in grouped else "")
        sub = below[c] if c < len(below) else ""
        names.append(f"{group}/{sub}" if group and sub and sub != group else group or sub)
    return names


def labelled(header: list[str], row: list[str]) -> str:
    """``row`` as "name: value; …" under ``header``: empty cells left out, a merged cell's
    repeated pair once, a cell past the header's last column or under an empty name alone."""
    pairs: list[tuple[str, str]] = []
    for name, value in zip_longest(header, row, fillvalue=""):
        if value and (not pairs or pairs[-1] != (name, value)):
            pairs.append((name, value))
    return "; ".join(f"{name}: {value}" if name else value for name, value in pairs)


@dataclass(frozen=True)
class Row:
    number: int  # the row's line in the sheet or file, from 1
    text: str
    caption: bool = False  # a title line above the header row


def labelled_rows(rows: Iterable[list[str]]) -> Iterator[Row]:
    """The rows of a sheet or CSV file after its header row, each labelled by it, with any
    caption lines above the header first. Cells are stripped; blank rows are skipped."""
    header: list[str] | None = None
    just_named = False  # the row before was the header: this one may name columns under it
    waiting: list[Row] = []  # single-cell lines before the first wider row
    for number, raw in enumerate(rows, start=1):
        cells = [cell.strip() for cell in raw]
        filled = [cell for cell in cells if cell]
        if not filled:
            continue
        if header is not None and just_named and (two_level := sub_header(header, cells)):
            header, just_named = two_level, False
        elif header is not None:
            just_named = False
            yield Row(number, labelled(header, cells))
        elif len(filled) >= 2:
            yield from (Row(r.number, r.text, caption=True) for r in waiting)
            header, waiting, just_named = cells, [], True
        else:
            waiting.append(Row(number, filled[0]))
            if len(waiting) > MAX_CAPTION_ROWS:  # a one-column table: its first line names it
                header = [waiting[0].text]
                yield from (Row(r.number, labelled(header, [r.text])) for r in waiting[1:])
                waiting = []
    if header is None and waiting:
        yield from (Row(r.number, labelled([waiting[0].text], [r.text])) for r in waiting[1:])


def _once(cells: list[str]) -> list[str]:
    """Cells with a merged cell's repeated text once."""
    out: list[str] = []
    for cell in cells:
        if not out or out[-1] != cell:
            out.append(cell)
    return out
