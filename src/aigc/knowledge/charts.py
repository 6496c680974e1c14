"""A chart's title and data as text, from its DrawingML chart part (slides and Word files).

A deck's or a report's figures are often only in its charts (a quarter's sales as columns);
the chart part caches each series' values and the category labels, which python-pptx reads.
A chart is read as its title, then a line per category with each series' value:
"Q3; 销售额（万元）: 150; 利润: 32.25". A point the chart leaves out is not a zero.
"""

from __future__ import annotations

from typing import Any

from aigc.knowledge import table_rows

# What python-pptx raises on a chart part it cannot make sense of: the chart is skipped, the
# document around it still reads.
_UNREADABLE = (KeyError, ValueError, AttributeError, IndexError, TypeError, SyntaxError)


def chart_part_texts(blob: bytes) -> list[str]:
    """The lines of a chart part (``c:chartSpace`` XML, as a Word file holds one); none for
    one that cannot be read."""
    from pptx.chart.chart import Chart
    from pptx.oxml import parse_xml

    try:
        return chart_texts(Chart(parse_xml(blob), None))
    except _UNREADABLE:
        return []


def chart_texts(chart: Any) -> list[str]:
    """The lines of a python-pptx chart (a slide's, already parsed); none for one that
    cannot be read."""
    try:
        return _texts(chart)
    except _UNREADABLE:
        return []


def _texts(chart: Any) -> list[str]:
    lines: list[str] = []
    title = chart.chart_title if chart.has_title else None
    if title is not None and title.has_text_frame and title.text_frame.text.strip():
        lines.append(title.text_frame.text.strip())
    for plot in chart.plots:
        series = list(plot.series)
        categories = [str(c) for c in plot.categories] if series else []
        header = ["", *(str(s.name or "") for s in series)]
        for i, category in enumerate(categories):
            values = [_figure(s.values[i] if i < len(s.values) else None) for s in series]
            lines.append(table_rows.labelled(header, [category, *values]))
    return lines


def _figure(value: object) -> str:
    """A value as the chart shows it (30.0 → 30); a missing point as nothing."""
    if value is None:
        return ""
    return f"{value:.10g}" if isinstance(value, float) else str(value)
