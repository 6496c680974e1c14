"""knowledge: a document's notes and failure reasons keep their codes' values

``note_codes`` names each of a document's ``notes`` ("page 3 looks scanned …") with its values,
and ``error_values`` / ``update_error_values`` keep the numbers a failure reason says (a PDF's
pages and the limit), so the console says them in the reader's language. Existing rows: none
(their notes are shown as written, their reasons in words without the numbers).

Revision ID: 0017_kb_note_codes
Revises: 0016_job_message_code
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_kb_note_codes"
down_revision: str | None = "0016_job_message_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note_codes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("error_values", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("update_error_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.drop_column("update_error_values")
        batch_op.drop_column("error_values")
        batch_op.drop_column("note_codes")
