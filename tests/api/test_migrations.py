"""The Alembic migrations produce exactly the schema the models describe."""

import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, text

from api.ops import migrate
from ingest import models as _ingest  # noqa: F401
from retrieval import models as _retrieval  # noqa: F401
from tenancy.db import Base, make_engine


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    current = migrate.is_current(engine)
    engine.dispose()
    assert diff == []
    assert current


def test_tags_move_into_rows_and_nothing_else_is_lost(database_url: str) -> None:
    """0005 drops `documents.tags` and two job columns in place: no table is recreated, so
    no chunk goes with it (on SQLite a recreated `documents` would cascade its deletion)."""
    engine = _with_an_old_document(database_url, "0004")
    with engine.connect() as connection:
        chunks = connection.execute(text("SELECT count(*) FROM chunks")).scalar()
        tags = connection.execute(
            text("SELECT tag, position FROM document_tags ORDER BY position")
        ).all()
    engine.dispose()
    assert chunks == 1
    assert [tuple(row) for row in tags] == [("zeta", 0), ("alpha", 1)]


def _with_an_old_document(database_url: str, revision: str, *changes: str) -> Engine:
    """A database with an old document (made at 0004), at `revision` changed by `changes`,
    then upgraded to the head."""
    engine = make_engine(database_url)
    config = migrate.config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        _an_old_document(connection)
        command.upgrade(config, revision)
        for change in changes:
            connection.execute(text(change))
    migrate.upgrade(engine)
    return engine


def _an_old_document(connection: Connection) -> None:
    """A tenant with a document (JSON tags, one of them also a row), its chunk and a job."""
    ids = {name: uuid.uuid4().hex for name in ("tenant", "document", "chunk", "tag", "job")}
    now = "2026-11-30 00:00:00"
    statements = [
        "INSERT INTO tenants (id, name, created_at) VALUES (:tenant, 'acme', :now)",
        "INSERT INTO documents (id, tenant_id, filename, media_type, sha256, size_bytes, version,"
        " status, chunk_count, tags, created_at, updated_at, attempts) VALUES (:document,"
        " :tenant, 'a.txt', 'text/plain', :sha, 1, 1, 'ready', 1, :tags, :now, :now, 0)",
        "INSERT INTO chunks (id, tenant_id, document_id, ordinal, text, char_start, char_end,"
        " sha256) VALUES (:chunk, :tenant, :document, 0, 'x', 0, 1, :sha)",
        "INSERT INTO document_tags (id, tenant_id, document_id, tag) VALUES (:tag, :tenant,"
        " :document, 'alpha')",
        "INSERT INTO jobs (id, tenant_id, status, created_at, updated_at) VALUES (:job, :tenant,"
        " 'queued', :now, :now)",
    ]
    params = {**ids, "now": now, "sha": "0" * 64, "tags": '["zeta", "alpha"]'}
    if connection.dialect.name == "postgresql":  # native UUID columns take the dashed form
        params |= {name: str(uuid.UUID(value)) for name, value in ids.items()}
    for statement in statements:
        connection.execute(text(statement), params)


def test_utf16_offsets_are_filled_in_for_chunks_indexed_before(database_url: str) -> None:
    """0010 gives old chunks their UTF-16 span: equal to the code points, or shifted by each
    character beyond the BMP before it."""
    engine = _with_an_old_document(
        database_url,
        "0009",
        "UPDATE documents SET text = '\U0001f600\U0001f600x'",
        "UPDATE chunks SET char_start = 2, char_end = 3",
    )
    with engine.connect() as connection:
        span = connection.execute(
            text("SELECT char_start + utf16_shift_start, char_end + utf16_shift_end FROM chunks")
        ).one()
    engine.dispose()
    assert tuple(span) == (4, 5)
