"""chunk tenant id index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:58:57.605708
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.create_index("ix_chunks_tenant_id_id", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_chunks_tenant_id_id")
