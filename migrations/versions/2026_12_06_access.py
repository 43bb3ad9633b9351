"""access inside a tenant: document access tokens, identities on keys, act-as JWKS

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:00:00

Every existing document becomes tenant-wide (token `*`), as it was. Columns are only added,
in place. The index's points get their `access` payload when a worker next starts
(`ingest.backfill`, driven by `documents.payload_version`).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "document_access",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.String(length=300), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_document_access_document_token", "document_access", ["document_id", "token"]
    )
    op.create_index("ix_document_access_tenant_id", "document_access", ["tenant_id"])
    _everyone_reads_what_exists()
    op.add_column(
        "documents",
        sa.Column("payload_version", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("sources", sa.Column("access", sa.JSON(), nullable=True))
    op.add_column("searches", sa.Column("identity", sa.String(length=300), nullable=True))
    op.add_column("searches", sa.Column("access", sa.JSON(), nullable=True))
    op.add_column("api_keys", sa.Column("user", sa.String(length=256), nullable=True))
    op.add_column("api_keys", sa.Column("groups", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(
        "api_keys",
        sa.Column("delegate", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("tenants", sa.Column("act_as_jwks", sa.JSON(), nullable=True))


def _everyone_reads_what_exists() -> None:
    documents = sa.table("documents", sa.column("id", sa.Uuid()), sa.column("tenant_id", sa.Uuid()))
    tokens = sa.table(
        "document_access",
        sa.column("id", sa.Uuid()),
        sa.column("tenant_id", sa.Uuid()),
        sa.column("document_id", sa.Uuid()),
        sa.column("token", sa.String()),
    )
    connection = op.get_bind()
    rows = [
        {"id": uuid.uuid4(), "tenant_id": tenant, "document_id": doc, "token": "*"}
        for doc, tenant in connection.execute(sa.select(documents.c.id, documents.c.tenant_id))
    ]
    for start in range(0, len(rows), 1000):
        connection.execute(sa.insert(tokens), rows[start : start + 1000])


def downgrade() -> None:
    """Revert (PostgreSQL; on SQLite restore a backup: dropping columns copies tables)."""
    if op.get_bind().dialect.name == "sqlite":
        raise NotImplementedError("0007 cannot be reverted on SQLite: restore a backup")
    for table, column in (
        ("tenants", "act_as_jwks"),
        ("api_keys", "delegate"),
        ("api_keys", "groups"),
        ("api_keys", "user"),
        ("searches", "access"),
        ("searches", "identity"),
        ("sources", "access"),
        ("documents", "payload_version"),
    ):
        op.drop_column(table, column)
    op.drop_table("document_access")
