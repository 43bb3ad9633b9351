"""receipts: every search keeps the signed receipt it answered with

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply (a column added in place)."""
    op.add_column("searches", sa.Column("receipt", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert (PostgreSQL; on SQLite restore a backup)."""
    if op.get_bind().dialect.name == "sqlite":
        raise NotImplementedError("0008 cannot be reverted on SQLite: restore a backup")
    op.drop_column("searches", "receipt")
