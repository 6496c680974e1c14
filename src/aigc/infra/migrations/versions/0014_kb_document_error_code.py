"""knowledge: a stable code beside a failed document's reason

``kb_documents.error`` is English text for API clients; ``error_code`` names the reason
(``aigc.knowledge.failure_codes``) so the console can say it in the reader's language.
Existing rows: none (their reasons keep being shown as written).

Revision ID: 0014_kb_document_error_code
Revises: 0013_kb_document_versions
Create Date: 2026-12-06 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_kb_document_error_code"
down_revision: str | None = "0013_kb_document_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_documents", schema=None) as batch_op:
        batch_op.drop_column("error_code")
