"""knowledge: what a person should know about how a document was read

A document's notes from its last ingestion (pages that could not be read without OCR, the
text encoding when it was not UTF-8, broken bytes replaced), so the document list in the API
and the console says them, not only the ingestion job that ran once. Existing rows: none.

Revision ID: 0012_kb_document_notes
Revises: 0011_kb_vectors
Create Date: 2026-12-05 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_kb_document_notes"
down_revision: str | None = "0011_kb_vectors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.drop_column("notes")
