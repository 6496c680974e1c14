"""Console: a job's progress line in the page's language, from the code the job named it by.

A job's ``message`` is English, written by the code that runs it; ``message_code`` and
``message_values`` (jobs' columns) name the line so a Chinese page can say it. Training and
ingestion name their lines each in their own table (aigc.models.progress_lines,
aigc.knowledge.ingest_lines); the way back to words is this one function for both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from aigc.console import i18n

Shown = Callable[[i18n.Translator, str, dict[str, Any]], dict[str, Any]]


def coded_line(
    tr: i18n.Translator, job: dict[str, Any], prefix: str, codes: Collection[str], shown: Shown
) -> str:
    """The job's line: ``{prefix}.{code}`` with the values as ``shown`` writes them where the
    job named it by one of ``codes``, else (and on English pages) as the API wrote it."""
    message = str(job.get("message") or "")
    code, values = job.get("message_code"), job.get("message_values")
    if tr.lang == "en" or not isinstance(code, str) or code not in codes:
        return message
    if not isinstance(values, dict | None):
        return message
    try:
        return tr(f"{prefix}.{code}", **shown(tr, code, values or {}))
    except (KeyError, TypeError, ValueError):  # values not as this console expects
        return message
