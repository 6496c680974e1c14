"""Migration 0017: a document's notes and failure reasons get columns for their codes' values
(``note_codes``, ``error_values``, ``update_error_values``); rows stored before keep their notes
and reasons, with no values (the console shows their notes as written)."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from aigc.infra import migrate
from tests.infra.migration_rows import tenant_and_kb


def test_notes_and_reasons_stored_before_keep_their_words(db_url: str) -> None:
    migrate.upgrade(db_url, "0016_job_message_code")
    engine = create_engine(db_url)
    notes = ["read as big5 text (the file is not UTF-8)"]
    with engine.begin() as conn:
        tenant_and_kb(conn, "制度", created_by="u1")
        for doc_id, error, code, note in (
            ("d_pdf", "The PDF has 2400 pages; the limit is 2000", "pdf_too_many_pages", None),
            ("d_txt", None, None, json.dumps(notes)),
        ):
            conn.execute(
                text(
                    "INSERT INTO kb_documents (id, tenant_id, kb_id, filename, source, "
                    "content_type, bytes, sha256, status, error, error_code, notes, pages, "
                    "chunk_count, created_at, updated_at) VALUES (:id, 't1', 'kb1', :id, "
                    "'upload', 'pdf', 1, '', 'ready', :error, :code, :notes, 0, 0, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": doc_id, "error": error, "code": code, "notes": note},
            )
    migrate.upgrade(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE kb_documents SET note_codes = :codes WHERE id = 'd_txt'"),
            {"codes": json.dumps([{"code": "read_as_encoding", "values": {"encoding": "big5"}}])},
        )
    with engine.connect() as conn:
        found = {
            row[0]: row[1:]
            for row in conn.execute(
                text(
                    "SELECT id, error, error_code, error_values, update_error_values, notes, "
                    "note_codes FROM kb_documents"
                )
            )
        }
    engine.dispose()

    def loaded(value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    error, code, values, update_values, pdf_notes, pdf_codes = found["d_pdf"]
    assert (error, code) == ("The PDF has 2400 pages; the limit is 2000", "pdf_too_many_pages")
    assert (values, update_values, pdf_notes, pdf_codes) == (None, None, None, None)
    assert loaded(found["d_txt"][4]) == notes
    assert loaded(found["d_txt"][5]) == [
        {"code": "read_as_encoding", "values": {"encoding": "big5"}}
    ]
