"""What a KB's index holds, read from the database: both index paths ask the same questions.

The file path (``ingest.sync_index``) and the database path (``db_index``) build the same
``KbIndex`` from the same rows, so the queries that say which chunks are indexed, what text
each is indexed with and each document's header live here once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.knowledge import context
from aigc.knowledge.tables import KbChunk, KbDocument

INDEXED = ("ready", "queued", "indexing")
"""Document states whose chunks are in the index and searched. A document has chunks only
from a version that was read: a ``queued`` or ``indexing`` one keeps its previous version's
until the new version's replace them (or has none yet); a ``failed`` one has none."""

_BATCH = 5000  # ids per ``IN (...)``: well under every database's bound on parameters


def chunk_documents(session: Session, tenant_id: str, kb_id: str) -> dict[int, str]:
    """Each indexed chunk's id → its document's id, in chunk-id order."""
    rows = session.execute(
        select(KbChunk.id, KbChunk.document_id)
        .join(KbDocument, KbDocument.id == KbChunk.document_id)
        .where(
            KbChunk.tenant_id == tenant_id,
            KbChunk.kb_id == kb_id,
            KbDocument.status.in_(INDEXED),
        )
        .order_by(KbChunk.id)
    ).all()
    return {int(cid): doc for cid, doc in rows}


def indexed_texts(session: Session, chunk_ids: Sequence[int]) -> list[str]:
    """The text each chunk is indexed with (its context header and its text), in that order."""
    texts: list[str] = []
    for start in range(0, len(chunk_ids), _BATCH):
        part = chunk_ids[start : start + _BATCH]
        by_id = {
            cid: context.indexed_text(head, text)
            for cid, text, head in session.execute(
                select(KbChunk.id, KbChunk.text, KbChunk.context).where(KbChunk.id.in_(part))
            )
        }
        texts.extend(by_id[c] for c in part)
    return texts


def document_headers(session: Session, tenant_id: str, kb_id: str) -> dict[str, str]:
    """Each indexed document's context (title, file name, period), indexed once per document."""
    rows = session.execute(
        select(KbDocument.id, KbDocument.filename, KbDocument.title, KbDocument.period).where(
            KbDocument.tenant_id == tenant_id,
            KbDocument.kb_id == kb_id,
            KbDocument.status.in_(INDEXED),
        )
    ).all()
    return {
        doc_id: context.document_header(context.DocContext.of(name, title, period))
        for doc_id, name, title, period in rows
        if title
    }
