"""Migration 0015: a failed document's reason stored before reasons had codes (0014) gets
the code it has had since, a kept version's ``update_error`` too, so the Chinese console says
them in Chinese; a reason the knowledge layer never wrote keeps no code and shows as written."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from aigc.infra import migrate
from tests.infra.migration_rows import tenant_and_kb

NOT_TAKEN = "The new version was not indexed, so the previous one is still searched and served: "
ROWS = {
    # id: (error, error_code, update_error)
    "d_docx": ("The DOCX file is corrupt (not a valid zip container)", None, None),
    "d_pdf": ("The PDF has 2400 pages; the limit is 2000", None, None),
    "d_memory": (
        "Reading the PDF stopped: it needs more than 1024 MB of memory or crashed the parser "
        "(MemoryError)",
        None,
        None,
    ),
    "d_cancel": (
        "Indexing was cancelled before this document was done; upload it again to index it",
        None,
        None,
    ),
    "d_coded": ("The PDF is corrupt or not a PDF: bad xref", "pdf_corrupt", None),
    "d_other": ("Something no parser here says", None, None),
    "d_kept": (None, None, NOT_TAKEN + "The file is not an e-mail message"),
}
EXPECTED = {
    "d_docx": ("zip_corrupt", None),
    "d_pdf": ("pdf_too_many_pages", None),
    "d_memory": ("read_out_of_memory", None),
    "d_cancel": ("indexing_cancelled", None),
    "d_coded": ("pdf_corrupt", None),
    "d_other": (None, None),
    "d_kept": (None, "email_invalid"),
}


def test_reasons_stored_before_codes_get_their_code(db_url: str) -> None:
    migrate.upgrade(db_url, "0014_kb_document_error_code")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        tenant_and_kb(conn, "制度", created_by="u1")
        for doc_id, (error, code, update_error) in ROWS.items():
            conn.execute(
                text(
                    "INSERT INTO kb_documents (id, tenant_id, kb_id, filename, source, "
                    "content_type, bytes, sha256, status, error, error_code, update_error, "
                    "pages, chunk_count, created_at, updated_at) VALUES (:id, 't1', 'kb1', "
                    ":name, 'upload', 'pdf', 1, '', :status, :error, :code, :update_error, 0, "
                    "0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": doc_id,
                    "name": f"{doc_id}.pdf",
                    "status": "failed" if error else "ready",
                    "error": error,
                    "code": code,
                    "update_error": update_error,
                },
            )
    migrate.upgrade(db_url)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT id, error_code, update_error_code, error FROM kb_documents")
        ).all()
    engine.dispose()
    assert {row[0]: (row[1], row[2]) for row in found} == EXPECTED
    assert {row[0]: row[3] for row in found} == {k: v[0] for k, v in ROWS.items()}  # kept
