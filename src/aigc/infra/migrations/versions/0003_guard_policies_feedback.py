"""guard: policies per tenant and feedback

Revision ID: 0003_guard
Revises: 0002_kb
Create Date: 2026-11-29 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_guard"
down_revision: str | None = "0002_kb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guard_policies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("guard_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guard_policies_tenant_id"), ["tenant_id"], unique=False
        )
    op.create_table(
        "guard_feedback",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=80), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("guard_feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guard_feedback_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_guard_feedback_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("guard_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guard_feedback_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_guard_feedback_request_id"))
    op.drop_table("guard_feedback")
    with op.batch_alter_table("guard_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guard_policies_tenant_id"))
    op.drop_table("guard_policies")
