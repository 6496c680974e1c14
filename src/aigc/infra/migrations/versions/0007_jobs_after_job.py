"""jobs: after_job, the job a queued job waits for

Job runners now run several jobs at once, so a job that needs another one's output (a
text-to-image model needs its CLIP model) can no longer rely on the queue's order. Its handler
says which job it waits for; the job goes back to the queue with this column set and is not
claimed until that job has ended. Nullable, no default: existing rows wait for nothing.

Revision ID: 0007_jobs_after
Revises: 0006_audit_images
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_jobs_after"
down_revision: str | None = "0006_audit_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("after_job", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("after_job")
