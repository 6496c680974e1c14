"""The names of an ingestion job's progress lines, passed beside their English.

A ``kb-ingest`` job's ``message`` is English for API clients ("document 26 of 60: a.pdf
indexed, 12 chunks; page 3 looks scanned …"); the code and values that come with it
(``JobContext.progress``, the job's ``message_code`` and ``message_values``) let a client say
the line in its reader's language, as training lines are (``models/progress_lines.py``).
Every code is listed here and the console has words for each.
"""

from __future__ import annotations

from typing import Any

from aigc.knowledge import note_codes

# done, total, name, chunks, ocr (chunks read by OCR), notes ({code, values} or None each),
# note_texts (the notes' English)
INDEXED = "kb_indexed"
FAILED = "kb_failed"  # done, total, name, reason (failure_codes), reason_values, kept (bool)
SUPERSEDED = "kb_superseded"  # done, total, name
UNCHANGED = "kb_unchanged"  # done, total, name
GONE = "kb_gone"  # done, total
EMBEDDING = "kb_embedding"  # done (the document's number), total, name, embedded, chunks
UPDATING_INDEX = "kb_updating_index"
DONE = "kb_done"

CODES = frozenset({INDEXED, FAILED, SUPERSEDED, UNCHANGED, GONE, EMBEDDING, UPDATING_INDEX, DONE})


def indexed(name: str, chunks: int, ocr: int, notes: list[str]) -> dict[str, Any]:
    """An indexed document's values (``INDEXED``), its notes named as they are stored."""
    return {
        "name": name,
        "chunks": chunks,
        "ocr": ocr,
        "notes": [note_codes.named(n) for n in notes],
        "note_texts": [str(n) for n in notes],
    }
