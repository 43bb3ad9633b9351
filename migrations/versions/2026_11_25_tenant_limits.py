"""tenant limits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:13:25.671542
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_per_second", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("rate_burst", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_documents", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_chunks", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("max_chunks")
        batch_op.drop_column("max_bytes")
        batch_op.drop_column("max_documents")
        batch_op.drop_column("rate_burst")
        batch_op.drop_column("rate_per_second")
