"""jobs: a progress line's name and values beside its English

``jobs.message`` is English for API clients ("iter 40/200 loss 2.3010 …"); ``message_code``
and ``message_values`` name the line and carry its numbers, so the console says it in the
reader's language. Existing rows: none (their lines are shown as written).

Revision ID: 0016_job_message_code
Revises: 0015_kb_update_error_code
Create Date: 2026-12-06 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_job_message_code"
down_revision: str | None = "0015_kb_update_error_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("message_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("message_values")
        batch_op.drop_column("message_code")
