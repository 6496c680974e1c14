"""knowledge: a new version's failure has a code too; failures stored before codes get theirs

``update_error_code`` names why a document's newest upload was not indexed (its earlier
version kept), as ``error_code`` (0014) does for a failed document, so the console can say
both in the reader's language.

Existing rows: a reason stored before 0014 has no code. The reasons are the knowledge
layer's own fixed sentences (a number or a library's words may follow them), so each is
matched here by how it starts and given the code it has had since; one that matches none keeps
no code and is shown as written. The sentences are copied here, not imported: a migration
must do the same thing whatever the code becomes later.

Revision ID: 0015_kb_update_error_code
Revises: 0014_kb_document_error_code
Create Date: 2026-12-06 18:20:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_kb_update_error_code"
down_revision: str | None = "0014_kb_document_error_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# How each coded reason starts, as aigc.knowledge wrote it before it stored codes.
_STARTS = [
    (r"The PDF is corrupt or not a PDF", "pdf_corrupt"),
    (r"The PDF needs a password to open", "pdf_password"),
    (r"The PDF has no pages", "pdf_no_pages"),
    (r"The PDF is a dynamic XFA form", "pdf_xfa"),
    (r"The PDF has \d+ pages; the limit is", "pdf_too_many_pages"),
    (r"No text could be extracted from", "no_text"),
    (r"The stored copy of this document could not be read", "stored_copy_unreadable"),
    (r"The document could not be processed", "processing_error"),
    (r"Unsupported file type '|'[^']*' has no extension; supported", "unsupported_type"),
    (r"'\.[^']+' is .+, which is not read here: save it as", "save_as_other_format"),
    (r"Not a valid \w+ file", "invalid_file"),
    (r"The file is not text in an encoding that could be recognised", "text_undecodable"),
    (r"Line \d+ is not valid JSON", "jsonl_invalid_line"),
    (r"The MHT file holds no web page or text", "mht_no_page"),
    (r"The \w+ file is corrupt \(not a valid zip container\)", "zip_corrupt"),
    (r"The \w+ file has \d+ parts; too many", "zip_too_many_parts"),
    (r"The \w+ file holds a part with an unsafe path", "zip_unsafe_path"),
    (r"The \w+ file (looks like a zip bomb|expands to \d+ bytes)", "zip_bomb"),
    (r"The deck has \d+ slides; limit", "too_many_slides"),
    (r"The OpenDocument file has no content\.xml", "odf_no_content"),
    (r"The file is not an OpenDocument text", "odf_not_text"),
    (r"The file is not an OpenDocument presentation", "odf_not_presentation"),
    (r"The file is not an e-mail message", "email_invalid"),
    (r"The e-mail could not be read", "email_unreadable"),
    (r"The archive could not be read", "archive_unreadable"),
    (r"The archive holds no file that could be read", "archive_nothing_readable"),
    (r"An (e-mail|archive) inside \d+ levels of files is not opened", "nested_too_deep"),
    (r"The file is not an image Pillow can read", "image_unreadable"),
    (r"The image is too large to read", "image_too_large"),
    (r"An image's text can only be read by OCR", "ocr_unavailable"),
    (r"The spreadsheet has more than [\d,]+ cells", "sheet_too_many_cells"),
    (r"The spreadsheet could not be read", "sheet_unreadable"),
    (r"Reading the (PDF|image|spreadsheet) took longer than", "read_timeout"),
    (r"Reading the (PDF|image|spreadsheet) (stopped: it )?needs more than", "read_out_of_memory"),
    (r"The document's text could not be stored", "text_not_stored"),
    (r"Indexing was cancelled before this document was done", "indexing_cancelled"),
    (r"Indexing stopped before this document was done", "indexing_stopped"),
]
_NOT_TAKEN = "The new version was not indexed, so the previous one is still searched and served: "


def code_of(reason: str | None) -> str | None:
    """The code of a reason as the knowledge layer wrote it; None for any other text."""
    if reason is None:
        return None
    reason = reason.removeprefix(_NOT_TAKEN)
    return next((code for start, code in _STARTS if re.match(start, reason)), None)


def upgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_error_code", sa.String(length=40), nullable=True))
    documents = sa.table(
        "kb_documents",
        sa.column("id", sa.String),
        sa.column("error", sa.Text),
        sa.column("error_code", sa.String),
        sa.column("update_error", sa.Text),
        sa.column("update_error_code", sa.String),
    )
    conn = op.get_bind()
    uncoded = conn.execute(
        sa.select(
            documents.c.id, documents.c.error, documents.c.error_code, documents.c.update_error
        ).where(
            (documents.c.error.is_not(None) & documents.c.error_code.is_(None))
            | documents.c.update_error.is_not(None)
        )
    ).all()
    for doc_id, error, error_code, update_error in uncoded:
        values = {"update_error_code": code_of(update_error)}
        if error_code is None:
            values["error_code"] = code_of(error)
        if any(values.values()):
            conn.execute(sa.update(documents).where(documents.c.id == doc_id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.drop_column("update_error_code")
