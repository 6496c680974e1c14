"""A spreadsheet cell's value as the sheet shows it, near enough: a date without a midnight
time, a float without binary noise (0.1 + 0.2 is 0.3), booleans as Excel writes them."""

from __future__ import annotations

import datetime


def value_text(value: object) -> str:
    """A value as read from a sheet (openpyxl's or calamine's) as text."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat(" ", "seconds" if value.second else "minutes")
    if isinstance(value, datetime.time):
        return value.isoformat("seconds" if value.second else "minutes")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def shown_text(value: object, percent: bool) -> str:
    """``value_text``, or for a number its sheet formats as a percentage (``percent``) that
    percentage as the sheet shows it: 0.153 is 15.3%."""
    if percent and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value * 100:.10g}%"
    return value_text(value)
