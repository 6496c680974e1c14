"""knowledge: a new version of a document is indexed beside the one still searched

Re-uploading a document overwrote its stored file and dropped its chunks before the new bytes
were read: a bad new version destroyed the good one. Now the new version's file is stored
beside the old (``stored_as``), the old version's facts are kept while the new is indexed
(``previous``), and a new version that cannot be indexed leaves the old in place with the
reason (``update_error``). Existing rows: their file stays documents/<id> (``stored_as``
None), nothing pending, no error.

Revision ID: 0013_kb_document_versions
Revises: 0012_kb_document_notes
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_kb_document_versions"
down_revision: str | None = "0012_kb_document_notes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_as", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("previous", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("update_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.drop_column("update_error")
        batch_op.drop_column("previous")
        batch_op.drop_column("stored_as")
