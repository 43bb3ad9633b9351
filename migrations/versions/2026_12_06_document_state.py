"""document state in one place: tags stored once, dead job columns gone

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 01:30:00

Tags were stored twice, as a JSON list on the document and as `document_tags` rows; the rows
stay (listing by tag is an indexed query) and gain the list's order. `jobs.status` and
`jobs.error` were never read or written (a job's state is derived from its documents).

Columns are dropped with ALTER TABLE, never by recreating the table: on SQLite, recreating
`documents` would drop the old table, and with foreign keys on, that deletes its chunks.
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TAGS = sa.table(
    "document_tags",
    sa.column("id", sa.Uuid()),
    sa.column("tenant_id", sa.Uuid()),
    sa.column("document_id", sa.Uuid()),
    sa.column("tag", sa.String()),
    sa.column("position", sa.Integer()),
)
_DOCUMENTS = sa.table(
    "documents", sa.column("id", sa.Uuid()), sa.column("tenant_id", sa.Uuid()), sa.column("tags")
)


def upgrade() -> None:
    """Apply."""
    op.add_column(
        "document_tags", sa.Column("position", sa.Integer(), nullable=False, server_default="0")
    )
    _tags_into_rows(op.get_bind())
    with op.batch_alter_table("documents", recreate="never") as batch_op:
        batch_op.drop_column("tags")
    with op.batch_alter_table("jobs", recreate="never") as batch_op:
        batch_op.drop_index("ix_jobs_status")
        batch_op.drop_column("status")
        batch_op.drop_column("error")


def _tags_into_rows(connection: sa.Connection) -> None:
    """Every tag of every document as a row, in the order of the document's list."""
    have = {
        (d, t): i
        for i, d, t in connection.execute(sa.select(_TAGS.c.id, _TAGS.c.document_id, _TAGS.c.tag))
    }
    for document_id, tenant_id, raw in connection.execute(sa.select(_DOCUMENTS)):
        tags = raw if isinstance(raw, list) else json.loads(raw or "[]")
        for position, tag in enumerate(dict.fromkeys(tags)):
            row = have.get((document_id, tag))
            if row is None:
                values = {"id": uuid.uuid4(), "tenant_id": tenant_id, "document_id": document_id}
                connection.execute(sa.insert(_TAGS).values(tag=tag, position=position, **values))
            else:
                connection.execute(
                    sa.update(_TAGS).where(_TAGS.c.id == row).values(position=position)
                )


def downgrade() -> None:
    """Revert (tags are copied back into the JSON list)."""
    with op.batch_alter_table("jobs", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="queued")
        )
        batch_op.create_index("ix_jobs_status", ["status"], unique=False)
    op.add_column("documents", sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
    connection = op.get_bind()
    lists: dict[uuid.UUID, list[str]] = {}
    query = sa.select(_TAGS.c.document_id, _TAGS.c.tag).order_by(_TAGS.c.position)
    for document_id, tag in connection.execute(query):
        lists.setdefault(document_id, []).append(tag)
    for document_id, tags in lists.items():
        update = sa.update(_DOCUMENTS).where(_DOCUMENTS.c.id == document_id)
        connection.execute(update.values(tags=json.dumps(tags)))
    with op.batch_alter_table("document_tags", recreate="never") as batch_op:
        batch_op.drop_column("position")
