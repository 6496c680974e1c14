"""knowledge: where a chunk comes from (document title and period, the indexed context header)

A document's title and the period it covers (as the document states them), and per chunk the
context header indexed with it (title, file name, period, section path), so that a query
naming a company, a quarter or a section finds the right document's passage and a citation
can say what it cites. Existing rows get empty values; re-ingesting a document fills them.

Revision ID: 0010_kb_chunk_context
Revises: 0009_sso_oidc
Create Date: 2026-12-03 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_kb_chunk_context"
down_revision: str | None = "0009_sso_oidc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("period", sa.String(length=200), nullable=True))
    with op.batch_alter_table("kb_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_chunks", schema=None) as batch_op:
        batch_op.drop_column("context")
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.drop_column("period")
        batch_op.drop_column("title")
