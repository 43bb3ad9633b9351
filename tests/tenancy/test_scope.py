"""The scope funnel: every statement it builds or runs sees only its own tenant's rows."""

import uuid

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ingest.models import Job, JobItem
from retrieval.models import Chunk, Document, DocumentStatus
from tenancy import tenants
from tenancy.errors import NotFound
from tenancy.ids import TenantId
from tenancy.scope import Scope, prepared


def _tenant(db: Session, name: str) -> Scope:
    return Scope(db, TenantId(tenants.create(db, name=name).id))


def _document(scope: Scope, name: str, **extra: object) -> Document:
    row = Document(filename=name, media_type="text/plain", sha256="0" * 64, size_bytes=1, **extra)
    scope.add(row)
    scope.flush()
    return row


@pytest.fixture
def two(db: Session) -> tuple[Scope, Scope]:
    """Tenants A and B, with one document each."""
    a, b = _tenant(db, "acme"), _tenant(db, "globex")
    _document(a, "a.txt")
    _document(b, "b.txt")
    return a, b


def test_add_stamps_the_tenant_and_reads_see_only_their_own(two: tuple[Scope, Scope]) -> None:
    a, b = two
    assert [d.filename for d in a.all(a.select(Document))] == ["a.txt"]
    assert [d.filename for d in b.all(b.select(Document))] == ["b.txt"]
    assert a.count(Document) == b.count(Document) == 1


def test_another_tenants_id_is_not_found(two: tuple[Scope, Scope]) -> None:
    a, b = two
    theirs = b.all(b.select(Document))[0]
    assert a.find(Document, theirs.id) is None
    with pytest.raises(NotFound):
        a.get(Document, theirs.id, kind="document")
    assert not a.exists(Document, Document.id == theirs.id)
    with pytest.raises(NotFound):
        a.remove(theirs)


def test_a_joined_table_is_scoped_when_the_statement_runs(two: tuple[Scope, Scope]) -> None:
    a, b = two
    ours = a.all(a.select(Document))[0]
    # A row of B that points at A's document (corrupt data, or a forged id): a join from A's
    # documents through job items must not follow it.
    job = b.add(Job())
    b.flush()
    b.add(JobItem(job_id=job.id, document_id=ours.id, position=0))
    b.flush()
    query = a.select(Document).join(JobItem, JobItem.document_id == Document.id)
    assert a.all(query.where(JobItem.job_id == job.id)) == []
    assert b.all(b.select(Document).join(JobItem, JobItem.document_id == Document.id)) == []


def test_the_tables_found_per_statement_shape_never_leak_to_another_shape(
    two: tuple[Scope, Scope],
) -> None:
    """The tables of a statement are kept per shape (its cache key): the same shape with
    other values is scoped alike, and a shape that adds a join gets that table's condition."""
    a, b = two
    _document(b, "b2.txt")
    plain = select(Chunk.id).join(Document, Document.id == Chunk.document_id)
    ids = [str(b.scoped(plain.where(Document.filename == name))) for name in ("x", "y")]
    assert ids[0] == ids[1]
    assert ids[0].count(".tenant_id = ") == 2
    alone = select(Document.id).where(Document.filename == "b.txt")
    assert str(b.scoped(alone)).count(".tenant_id = ") == 1
    # Run after the join's shape was seen: still only the caller's own rows.
    assert b.all(alone) != []
    assert a.all(alone) == []
    joined = alone.join(Chunk, Chunk.document_id == Document.id)
    assert str(b.scoped(joined)).count(".tenant_id = ") == 2


def test_delete_and_update_touch_only_the_scopes_rows(two: tuple[Scope, Scope]) -> None:
    a, b = two
    assert a.update(Document, Document.size_bytes == 1, status=DocumentStatus.FAILED) == 1
    assert [d.status for d in b.all(b.select(Document))] == [DocumentStatus.QUEUED]
    assert a.delete(Document) == 1
    assert a.count(Document) == 0
    assert b.count(Document) == 1


def test_a_prepared_statement_is_bound_to_the_callers_tenant(two: tuple[Scope, Scope]) -> None:
    a, b = two
    statement = prepared(select(Document.filename).where(Document.size_bytes == bindparam("n")))
    assert [r["filename"] for r in a.execute(statement, n=1)] == ["a.txt"]
    assert [r["filename"] for r in b.execute(statement, n=1)] == ["b.txt"]


def test_a_prepared_join_filters_every_table(two: tuple[Scope, Scope]) -> None:
    a, b = two
    theirs = b.all(b.select(Document))[0]
    # A chunk row of A under B's document: joined on the document, only B's chunks may come.
    a.add(
        Chunk(
            id=uuid.uuid4(),
            document_id=theirs.id,
            ordinal=0,
            text="x",
            char_start=0,
            char_end=1,
            page_start=None,
            page_end=None,
            section=None,
            sha256="1" * 64,
        )
    )
    a.flush()
    statement = prepared(select(Chunk.id).join(Document, Document.id == Chunk.document_id))
    assert a.execute(statement) == []
    assert b.execute(statement) == []


def test_a_statement_it_cannot_see_through_fails_closed(two: tuple[Scope, Scope]) -> None:
    a, _ = two
    inner = select(Document.id).subquery()
    with pytest.raises(TypeError):
        a.all(select(inner.c.id))


def test_the_scopes_own_tenant_row(two: tuple[Scope, Scope]) -> None:
    a, b = two
    assert (a.tenant().name, b.tenant().name) == ("acme", "globex")


def test_a_cte_is_read_from_only_when_prepared_scoped_it(two: tuple[Scope, Scope]) -> None:
    a, b = two
    mine = prepared(select(Document.id, Document.filename)).cte("mine")
    names = prepared(select(mine.c.filename))
    assert [row["filename"] for row in a.execute(names)] == ["a.txt"]
    assert [row["filename"] for row in b.execute(names)] == ["b.txt"]
    unscoped = select(Document.id).cte("unscoped")
    with pytest.raises(TypeError, match="CTE"):
        prepared(select(unscoped.c.id))
