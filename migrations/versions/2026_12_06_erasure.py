"""erasure: a tenant's erasure is recorded before it begins

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply (a column added in place; documents mark theirs with the status `erasing`)."""
    op.add_column("tenants", sa.Column("erasing_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert (PostgreSQL; on SQLite restore a backup)."""
    if op.get_bind().dialect.name == "sqlite":
        raise NotImplementedError("0009 cannot be reverted on SQLite: restore a backup")
    op.drop_column("tenants", "erasing_at")
