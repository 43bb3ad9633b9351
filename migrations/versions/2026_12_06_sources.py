"""sources: named document sets, a document's path in one, and the record of every sync

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tenancy.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = tenancy.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    """Apply (documents only gains a column, in place)."""
    op.create_table(
        "sources",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_sources_tenant_name"),
    )
    op.create_index("ix_sources_tenant_id", "sources", ["tenant_id"])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot add a constraint later, but takes an inline REFERENCES on a new
        # column whose default is NULL: no table copy (it would cascade the chunks away).
        op.execute("ALTER TABLE documents ADD COLUMN source_id CHAR(32) REFERENCES sources (id)")
    else:
        op.add_column("documents", sa.Column("source_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            "fk_documents_source_id", "documents", "sources", ["source_id"], ["id"]
        )
    op.create_index(
        "ix_documents_tenant_source_path", "documents", ["tenant_id", "source_id", "path"]
    )
    _runs()


def _runs() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("prune", sa.Boolean(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("committed_at", _WHEN, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_runs_source_id", "sync_runs", ["source_id"])
    op.create_index("ix_sync_runs_tenant_id", "sync_runs", ["tenant_id"])
    op.create_table(
        "sync_entries",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("renamed_from", sa.String(length=1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_entries_run_path", "sync_entries", ["run_id", "path"])
    op.create_index("ix_sync_entries_tenant_id", "sync_entries", ["tenant_id"])


def downgrade() -> None:
    """Revert (every source's documents become plain uploads); PostgreSQL only."""
    if op.get_bind().dialect.name == "sqlite":
        # Dropping the referencing column means copying `documents` on SQLite, and dropping
        # the old table with foreign keys on deletes its chunks: restore a backup instead.
        raise NotImplementedError("0006 cannot be reverted on SQLite: restore a backup")
    op.drop_table("sync_entries")
    op.drop_table("sync_runs")
    op.drop_index("ix_documents_tenant_source_path", table_name="documents")
    op.drop_constraint("fk_documents_source_id", "documents", type_="foreignkey")
    op.drop_column("documents", "source_id")
    op.drop_table("sources")
