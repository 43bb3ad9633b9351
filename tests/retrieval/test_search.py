"""Search, called directly: cited hits of the caller's tenant only, read apart, then recorded."""

import hashlib
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from retrieval import documents, sparse
from retrieval import search as searching
from retrieval.edge import EdgeIndex
from retrieval.index import VectorIndex
from retrieval.models import Chunk, Document, DocumentStatus, SearchRecord
from retrieval.points import IndexHit, IndexPoint, IndexQuery, PointPayload, point_id
from tenancy import tenants
from tenancy.errors import IsolationViolation
from tenancy.ids import TenantId
from tenancy.scope import ALL, TENANT, TOKENS, Scope
from tests.fakes import HashingEmbedder

EMBEDDER = HashingEmbedder()


@dataclass(frozen=True)
class Passage:
    ordinal: int
    text: str
    char_start: int
    char_end: int
    page_start: int | None = None
    page_end: int | None = None
    section: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class Indexed:
    text: str
    chunks: list[Passage]
    page_count: int | None = None


def _indexed(text: str) -> Indexed:
    parts = text.split("\n\n")
    starts = [sum(len(p) + 2 for p in parts[:i]) for i in range(len(parts))]
    chunks = [
        Passage(i, p, s, s + len(p)) for i, (p, s) in enumerate(zip(parts, starts, strict=True))
    ]
    return Indexed(text, chunks)


def _put(scope: Scope, index: VectorIndex, name: str, text: str, *, ready: bool = True) -> Document:
    """A document of the scope's tenant: rows (ready or still queued) and its points."""
    new = documents.NewDocument(name, "text/plain", hashlib.sha256(text.encode()).hexdigest(), 1)
    doc = documents.create(scope, new)
    indexed = _indexed(text)
    if ready:
        documents.ready(scope, doc, indexed)
        scope.flush()
    payload = PointPayload(scope.tenant_id, doc.id, doc.version, doc.media_type, doc.created_at)
    points = [
        IndexPoint(
            id=point_id(doc.id, c.ordinal),
            dense=EMBEDDER.embed_query(c.text),
            sparse=sparse.encode_document(c.text),
            payload=payload,
        )
        for c in indexed.chunks
    ]
    index.upsert(scope.tenant_id, points)
    return doc


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EdgeIndex]:
    edge = EdgeIndex(tmp_path / "edge", dimension=EMBEDDER.dimension, background_optimize=False)
    yield edge
    edge.close()


@pytest.fixture
def two(db: Session, index: EdgeIndex) -> tuple[Scope, Scope]:
    """Acme and Globex, each with a ready handbook on the same subject."""
    a = Scope(db, TenantId(tenants.create(db, name="acme").id))
    b = Scope(db, TenantId(tenants.create(db, name="globex").id))
    _put(a, index, "a.txt", "Acme pump valves are inspected weekly.\n\nAcme canteen menu.")
    _put(b, index, "b.txt", "Globex pump valves are inspected daily.\n\nGlobex parking rules.")
    return a, b


def _retriever(index: VectorIndex) -> searching.Retriever:
    return searching.Retriever(index, EMBEDDER)


def test_each_tenant_finds_only_its_own_cited_passages(
    two: tuple[Scope, Scope], index: EdgeIndex
) -> None:
    request = searching.SearchRequest("pump valves inspected", top_k=5)
    for scope, own in zip(two, ("Acme", "Globex"), strict=True):
        found = searching.search(scope, _retriever(index), request, key_id=None)
        texts = [hit["text"] for hit in found.record.results]
        assert texts
        assert all(text.startswith(own) for text in texts)
        citation = found.record.results[0]["citation"]
        assert citation["char_end"] - citation["char_start"] == len(texts[0])


def test_the_search_is_recorded_in_the_callers_tenant_with_its_audit_details(
    two: tuple[Scope, Scope], index: EdgeIndex
) -> None:
    a, b = two
    found = searching.search(a, _retriever(index), searching.SearchRequest("canteen"), key_id=None)
    searching.keep(a, found.record)
    assert a.find(SearchRecord, found.record.id) is not None
    assert b.find(SearchRecord, found.record.id) is None
    assert found.audit["query"] == "canteen"
    hashes = [hit["chunk_sha256"] for hit in found.audit["results"]]
    assert hashes == [hit["citation"]["chunk_sha256"] for hit in found.record.results]


def test_the_index_query_and_hit_rows_run_in_the_read_phase_before_the_record(
    two: tuple[Scope, Scope], index: EdgeIndex
) -> None:
    a, _ = two
    seen: list[str] = []

    @contextmanager
    def phase(session: Session) -> Iterator[None]:
        seen.append("read")
        before = session.query(SearchRecord).count()
        yield
        assert session.query(SearchRecord).count() == before  # nothing written while reading
        seen.append("end")

    scope = replace(a, read_phase=phase)
    searching.search(scope, _retriever(index), searching.SearchRequest("pump"), key_id=None)
    assert seen == ["read", "end"]


def test_a_document_not_yet_ready_is_not_found(db: Session, index: EdgeIndex) -> None:
    scope = Scope(db, TenantId(tenants.create(db, name="acme").id))
    _put(scope, index, "draft.txt", "Unreleased turbine schedule.", ready=False)
    found = searching.find(scope, _retriever(index), searching.SearchRequest("turbine schedule"))
    assert found == []
    assert scope.count(Document, Document.status == DocumentStatus.QUEUED) == 1


class _Leaky:
    """An index that answers with another tenant's point (a broken engine or filter)."""

    def __init__(self, inner: VectorIndex, foreign: TenantId) -> None:
        self.inner, self.foreign = inner, foreign

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        return self.inner.query(self.foreign, query)


def test_a_foreign_hit_fails_the_whole_search_closed(
    two: tuple[Scope, Scope], index: EdgeIndex
) -> None:
    a, b = two
    leaky = searching.Retriever(_Leaky(index, b.tenant_id), EMBEDDER)  # type: ignore[arg-type]
    with pytest.raises(IsolationViolation):
        searching.find(a, leaky, searching.SearchRequest("pump valves"))


def test_duplicate_passages_count_once(db: Session, index: EdgeIndex) -> None:
    scope = Scope(db, TenantId(tenants.create(db, name="acme").id))
    _put(scope, index, "one.txt", "Shared safety rule for every site.")
    _put(scope, index, "two.txt", "Shared safety rule for every site.\n\nAnd more.")
    found = searching.find(scope, _retriever(index), searching.SearchRequest("safety rule"))
    texts = [hit.text for hit in found]
    assert texts.count("Shared safety rule for every site.") == 1
    assert [hit.rank for hit in found] == list(range(1, len(found) + 1))


class _Degenerate:
    """An index that also answers with points scored NaN and infinity (a degenerate vector)."""

    def __init__(self, inner: VectorIndex) -> None:
        self.inner = inner

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        found = sorted(self.inner.query(tenant_id, query), key=lambda h: (-h.score, str(h.id)))
        bad = [replace(found[0], score=math.nan), replace(found[1], score=math.inf)]
        return bad + found[2:]


def test_a_hit_without_a_finite_score_is_not_an_answer(db: Session, index: EdgeIndex) -> None:
    scope = Scope(db, TenantId(tenants.create(db, name="acme").id))
    for n in range(4):
        _put(scope, index, f"pump-{n}.txt", f"Pump valve check number {n}.")
    plain = searching.find(scope, _retriever(index), searching.SearchRequest("pump valve"))
    degenerate = searching.Retriever(_Degenerate(index), EMBEDDER)  # type: ignore[arg-type]
    found = searching.find(scope, degenerate, searching.SearchRequest("pump valve"))
    assert len(plain) == 4
    assert [hit.chunk_id for hit in found] == [hit.chunk_id for hit in plain[2:]]
    assert all(math.isfinite(hit.score) for hit in found)


@pytest.mark.parametrize("access", [None, frozenset({"*"}), frozenset({"user:nobody"})])
def test_hit_resolution_on_the_driver_reads_what_sqlalchemy_reads(
    db: Session, two: tuple[Scope, Scope], access: frozenset[str] | None
) -> None:
    acme = replace(two[0], access=access)
    ids = list(db.scalars(select(Chunk.id).where(Chunk.tenant_id == acme.tenant_id)))
    ids += [uuid.uuid4(), *db.scalars(select(Chunk.id).where(Chunk.tenant_id == two[1].tenant_id))]
    bound = {
        TENANT.key: acme.tenant_id,
        ALL.key: access is None,
        TOKENS.key: sorted(access or ()),
        "ids": ids,
    }
    expected = db.connection().execute(searching._READY_CHUNKS, bound).mappings().all()
    rows = acme.execute(searching._READY_CHUNKS, ids=ids)
    typed = [{k: (type(v), v) for k, v in row.items()} for row in rows]
    assert typed == [{k: (type(v), v) for k, v in row.items()} for row in expected]
    # Acme's two passages: none of Globex's, none for a token no document carries.
    assert len(rows) == (0 if access == frozenset({"user:nobody"}) else 2)
