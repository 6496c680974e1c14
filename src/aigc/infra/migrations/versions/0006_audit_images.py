"""audit: the number of images in a request's input

Chat messages may carry images; the audit records how many (never their bytes). Existing rows
get 0, which the chain's signature leaves out (``audit._SIGNED_IF_SET``), so they still verify.

Revision ID: 0006_audit_images
Revises: 0005_kb_manage
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_audit_images"
down_revision: str | None = "0005_kb_manage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_records", sa.Column("images", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_column("images")
