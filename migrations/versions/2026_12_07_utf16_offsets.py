"""utf16 offsets: every chunk also cites its span in UTF-16 code units

The columns hold how far the UTF-16 span is shifted from the code-point span (the
characters beyond the BMP before each end). Adding them with the default 0 rewrites no row
(PostgreSQL 11+ and SQLite store the default once); only the chunks of documents with such
characters are then corrected, a batch of documents at a time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:00:00
"""

import re
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("utf16_shift_start", "utf16_shift_end")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_BATCH = 200
_FIRST = sa.text("SELECT id, text FROM documents WHERE text IS NOT NULL ORDER BY id LIMIT :n")
_NEXT = sa.text(
    "SELECT id, text FROM documents WHERE text IS NOT NULL AND id > :last ORDER BY id LIMIT :n"
)


def upgrade() -> None:
    """Apply: the columns (0), then the chunks of documents beyond the BMP."""
    for name in _COLUMNS:
        op.add_column("chunks", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    bind = op.get_bind()
    for document_id, text in _documents(bind):
        if _ASTRAL.search(text):
            _correct(bind, document_id, text)


def _documents(bind: sa.Connection) -> Iterator[tuple[object, str]]:
    """Every document with text, a batch at a time by id (each batch read whole before its
    documents are corrected), so memory stays bounded."""
    last = None
    while True:
        query = _FIRST if last is None else _NEXT
        batch = bind.execute(query, {"last": last, "n": _BATCH}).fetchall()
        if not batch:
            return
        yield from ((row[0], row[1]) for row in batch)
        last = batch[-1][0]


def _correct(bind: sa.Connection, document_id: object, text: str) -> None:
    chunks = bind.execute(
        sa.text("SELECT id, char_start, char_end FROM chunks WHERE document_id = :d"),
        {"d": document_id},
    ).fetchall()
    for chunk_id, start, end in chunks:
        shifts = (len(_ASTRAL.findall(text, 0, start)), len(_ASTRAL.findall(text, 0, end)))
        if shifts != (0, 0):
            bind.execute(
                sa.text(
                    "UPDATE chunks SET utf16_shift_start = :s, utf16_shift_end = :e WHERE id = :i"
                ),
                {"s": shifts[0], "e": shifts[1], "i": chunk_id},
            )


def downgrade() -> None:
    """Revert (PostgreSQL; on SQLite restore a backup)."""
    if op.get_bind().dialect.name == "sqlite":
        raise NotImplementedError("0010 cannot be reverted on SQLite: restore a backup")
    for name in _COLUMNS:
        op.drop_column("chunks", name)
