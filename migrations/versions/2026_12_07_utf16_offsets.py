"""utf16 offsets: every chunk also cites its span in UTF-16 code units

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retrieval.citations import utf16_offsets

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply: add the columns, equal to the code-point offsets, then correct the chunks of
    documents with characters beyond the BMP (each such character counts two units)."""
    for name in ("utf16_start", "utf16_end"):
        op.add_column("chunks", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE chunks SET utf16_start = char_start, utf16_end = char_end"))
    documents = bind.execute(sa.text("SELECT id, text FROM documents WHERE text IS NOT NULL"))
    for document_id, text in documents.fetchall():
        if text.isascii():
            continue
        _correct(bind, document_id, text)


def _correct(bind: sa.Connection, document_id: object, text: str) -> None:
    chunks = bind.execute(
        sa.text("SELECT id, char_start, char_end FROM chunks WHERE document_id = :d"),
        {"d": document_id},
    ).fetchall()
    utf16 = utf16_offsets(text, [o for _, start, end in chunks for o in (start, end)])
    for chunk_id, start, end in chunks:
        if (utf16[start], utf16[end]) != (start, end):
            bind.execute(
                sa.text("UPDATE chunks SET utf16_start = :s, utf16_end = :e WHERE id = :i"),
                {"s": utf16[start], "e": utf16[end], "i": chunk_id},
            )


def downgrade() -> None:
    """Revert (PostgreSQL; on SQLite restore a backup)."""
    if op.get_bind().dialect.name == "sqlite":
        raise NotImplementedError("0010 cannot be reverted on SQLite: restore a backup")
    for name in ("utf16_start", "utf16_end"):
        op.drop_column("chunks", name)
