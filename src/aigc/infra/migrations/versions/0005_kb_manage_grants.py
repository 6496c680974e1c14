"""knowledge bases: a 'manage' access level for each KB's creator

'write' used to include deleting the KB and changing its access list; it now covers documents
only, and those two need the new 'manage' level (the column is a free String(10), so no schema
change). Each creator's own 'write' grant, which the API added when they created the KB,
becomes 'manage', so creators keep what they had. Every other stored 'write' grant keeps
meaning documents only: that is the fix.

Revision ID: 0005_kb_manage
Revises: 0004_console
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_kb_manage"
down_revision: str | None = "0004_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE kb_access SET level = 'manage' "
        "WHERE subject_type = 'user' AND level = 'write' AND subject = "
        "(SELECT created_by FROM knowledge_bases WHERE knowledge_bases.id = kb_access.kb_id)"
    )


def downgrade() -> None:
    op.execute("UPDATE kb_access SET level = 'write' WHERE level = 'manage'")
