"""Processing one document: parse, chunk, embed, index, then flip it to `ready` atomically."""

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeGuard, TypeVar

from opentelemetry import trace
from sqlalchemy import delete, select

from ingest import finish, leases, quota
from ingest import gate as write_gate
from ingest.blobs import BlobStore
from ingest.chunk import Chunked, TextChunk, chunk_elements
from ingest.errors import ParseError
from ingest.sandbox import Parser, in_process
from retrieval import spans, sparse
from retrieval.embed import Embedder
from retrieval.index import VectorIndex
from retrieval.models import Chunk, Document
from retrieval.points import IndexPoint, PointPayload, point_id
from tenancy import tenants
from tenancy.db import SessionFactory
from tenancy.errors import QuotaExceeded
from tenancy.ids import TenantId
from tenancy.limits import Quota
from tenancy.scope import Scope

log = logging.getLogger("enclave.ingest")
tracer = trace.get_tracer("enclave.ingest")
T = TypeVar("T")


@dataclass(frozen=True)
class Pipeline:
    """Collaborators of ingestion."""

    sessions: SessionFactory
    blobs: BlobStore
    index: VectorIndex
    embedder: Embedder
    parser: Parser = in_process
    quota: Quota = field(default_factory=Quota)
    observe: Callable[[str, float, int], None] = lambda _stage, _seconds, _count: None
    batch_size: int = 64
    # Documents claimed, parsed, embedded and stored together. Each batch has fixed costs (the
    # claim, one load, one finishing transaction, the encoder's tail): 32 gave 0.78-0.83 of the
    # raw encoder in the ingest benchmark where 16 gave 0.74, for ~2x the vectors held at once.
    batch_docs: int = 32
    max_chars: int = 1200
    # Held around each document's index writes and their SQL: a backup sees all or none.
    gate: write_gate.WriteGate = field(default_factory=write_gate.WriteGate)


@dataclass(frozen=True)
class Source:
    """What the worker needs of a document, read in a short transaction."""

    id: uuid.UUID
    tenant_id: TenantId
    sha256: str
    media_type: str
    filename: str
    payload: PointPayload
    owner: str


@dataclass(frozen=True)
class Prepared:
    """A parsed and chunked document, waiting for its vectors."""

    source: Source
    chunked: Chunked


@dataclass(frozen=True)
class Batch:
    """Claimed documents, parsed and chunked, and the trace span they are indexed under."""

    ids: list[uuid.UUID]
    prepared: list[Prepared]
    span: spans.Span


def process_batch(pipeline: Pipeline, document_ids: Sequence[uuid.UUID], *, owner: str) -> None:
    """Index documents leased to `owner`: `prepare_batch`, then `index_batch`."""
    index_batch(pipeline, prepare_batch(pipeline, document_ids, owner=owner))


def prepare_batch(pipeline: Pipeline, document_ids: Sequence[uuid.UUID], *, owner: str) -> Batch:
    """Parse and chunk documents leased to `owner` (a worker does this for the next batch
    while the encoder works on the current one); unparseable ones, and those past their
    tenant's chunk quota, end `failed` here."""
    counts = {"enclave.ingest.documents": len(document_ids)}
    span = spans.start(tracer, "ingest.batch", counts)
    with spans.within(span):
        sources = _load_all(pipeline, document_ids, owner)
        parsed = (_guarded(pipeline, s, partial(_parse_one, pipeline, s)) for s in sources)
        prepared = _within_quota(pipeline, [p for p in parsed if p is not None])
        span.set_attribute("enclave.ingest.parsed", len(prepared))
    return Batch(list(document_ids), prepared, span)


def index_batch(pipeline: Pipeline, batch: Batch) -> None:
    """`embed_batch`, then `store_batch`."""
    store_batch(pipeline, batch, embed_batch(pipeline, batch))


def embed_batch(pipeline: Pipeline, batch: Batch) -> list[list[list[float]]] | None:
    """Embed all the batch's chunks together (the encoder is several times faster on full
    batches than on one small document at a time): each document's vectors, or None when
    the encoder failed (and with it, every document of the batch)."""
    with spans.within(batch.span):
        return _embed_all(pipeline, batch.prepared)


def store_batch(pipeline: Pipeline, batch: Batch, vectors: list[list[list[float]]] | None) -> None:
    """Store the embedded documents, which still end `ready` or `failed` each on its own (a
    worker does this while the encoder embeds the next batch)."""
    with spans.within(batch.span, end=True):
        if vectors is not None:
            _store(pipeline, list(zip(batch.prepared, vectors, strict=True)))


def _within_quota(pipeline: Pipeline, parsed: list[Prepared]) -> list[Prepared]:
    """Spend each tenant's chunk budget in batch order; fail the documents it cannot fit."""
    budgets: dict[TenantId, quota.ChunkBudget] = {}
    for item in parsed:
        if item.source.tenant_id not in budgets:
            budgets[item.source.tenant_id] = _chunk_budget(pipeline, item.source.tenant_id)
    spent = (
        _guarded(pipeline, item.source, partial(_spend, budgets[item.source.tenant_id], item))
        for item in parsed
    )
    return [item for item in spent if item is not None]


def _spend(budget: quota.ChunkBudget, item: Prepared) -> Prepared:
    budget.spend(len(item.chunked.chunks))
    return item


def _chunk_budget(pipeline: Pipeline, tenant_id: TenantId) -> quota.ChunkBudget:
    with pipeline.sessions() as session:
        limits = tenants.quota(tenants.get(session, tenant_id), pipeline.quota)
        return quota.chunk_budget(Scope(session, tenant_id), limits)


def _guarded(pipeline: Pipeline, source: Source, step: Callable[[], T]) -> T | None:
    """Run one step of one document; a failure fails that document only."""
    try:
        return step()
    except (ParseError, QuotaExceeded) as exc:
        _fail(pipeline, source, str(exc))
    except Exception as exc:
        log.exception("ingestion of document %s failed", source.id)
        _fail(pipeline, source, f"internal error while indexing ({type(exc).__name__})")
    return None


def _embed_all(pipeline: Pipeline, prepared: list[Prepared]) -> list[list[list[float]]] | None:
    texts = [c.text for p in prepared for c in p.chunked.chunks]
    began = time.perf_counter()
    counts = {"enclave.ingest.documents": len(prepared), "enclave.ingest.chunks": len(texts)}
    try:
        with spans.span(tracer, "ingest.embed", counts):
            flat = pipeline.embedder.embed_documents(texts)
    except Exception as exc:
        log.exception("embedding a batch of %d documents failed", len(prepared))
        for item in prepared:
            _fail(pipeline, item.source, f"internal error while embedding ({type(exc).__name__})")
        return None
    pipeline.observe("embed", time.perf_counter() - began, len(texts))
    out, start = [], 0
    for item in prepared:
        out.append(flat[start : start + len(item.chunked.chunks)])
        start += len(item.chunked.chunks)
    return out


def _load_all(pipeline: Pipeline, document_ids: Sequence[uuid.UUID], owner: str) -> list[Source]:
    """The documents still leased to `owner`, in the order given, read in one query."""
    with pipeline.sessions() as session:
        rows = session.scalars(select(Document).where(Document.id.in_(document_ids)))
        by_id = {doc.id: doc for doc in rows if leases.holds(doc, owner)}
        return [_source(by_id[i], owner) for i in document_ids if i in by_id]


def _source(doc: Document, owner: str) -> Source:
    payload = PointPayload(
        tenant_id=doc.tenant_id,
        document_id=doc.id,
        version=doc.version,
        media_type=doc.media_type,
        created_at=doc.created_at,
        tags=tuple(doc.tags),
    )
    tenant = TenantId(doc.tenant_id)
    return Source(doc.id, tenant, doc.sha256, doc.media_type, doc.filename, payload, owner)


def _parse_one(pipeline: Pipeline, source: Source) -> Prepared:
    return Prepared(source, _parse(pipeline, source))


def _parse(pipeline: Pipeline, source: Source) -> Chunked:
    with spans.span(tracer, "ingest.parse", _span_attributes(source)) as span:
        data = pipeline.blobs.get(source.tenant_id, source.sha256)
        start = time.perf_counter()
        elements = pipeline.parser(data, source.media_type, source.filename)
        span.set_attribute("enclave.ingest.elements", len(elements))
    parsed = time.perf_counter()
    with spans.span(tracer, "ingest.chunk", _span_attributes(source)) as span:
        chunked = chunk_elements(elements, max_chars=pipeline.max_chars)
        span.set_attribute("enclave.ingest.chunks", len(chunked.chunks))
    pipeline.observe("parse", parsed - start, 0)
    pipeline.observe("chunk", time.perf_counter() - parsed, len(chunked.chunks))
    if not chunked.chunks:
        raise ParseError("no extractable text")
    return chunked


def _span_attributes(source: Source) -> dict[str, str | int]:
    """What a trace may say about a document: never its text or its filename."""
    return {
        "enclave.tenant.id": str(source.tenant_id),
        "enclave.document.id": str(source.id),
        "enclave.document.media_type": source.media_type,
    }


@write_gate.writes
def _store(pipeline: Pipeline, embedded: list[tuple[Prepared, list[list[float]]]]) -> None:
    """Write each document's points, then turn them all `ready` in one transaction (one
    commit per batch, not per document); should that fail, finish them one by one."""
    written = [
        item
        for item, vectors in embedded
        if _guarded(pipeline, item.source, partial(_write_points, pipeline, item, vectors))
    ]
    try:
        _finish(pipeline, written)
    except Exception:
        log.exception("finishing %d documents together failed; one by one now", len(written))
        for item in written:
            _guarded(pipeline, item.source, partial(_finish, pipeline, [item]))


def _write_points(pipeline: Pipeline, item: Prepared, vectors: list[list[float]]) -> Prepared:
    """Replace whatever an interrupted attempt left in the index with this document's points."""
    source, chunks = item.source, item.chunked.chunks
    pipeline.index.delete_document(source.tenant_id, source.id)
    points = [_point(source, c, v) for c, v in zip(chunks, vectors, strict=True)]
    began = time.perf_counter()
    attributes = _span_attributes(source) | {"enclave.ingest.points": len(points)}
    with spans.span(tracer, "ingest.upsert", attributes):
        for start in range(0, len(points), pipeline.batch_size):
            pipeline.index.upsert(source.tenant_id, points[start : start + pipeline.batch_size])
    pipeline.observe("upsert", time.perf_counter() - began, len(points))
    return item


def _point(source: Source, chunk: TextChunk, vector: list[float]) -> IndexPoint:
    return IndexPoint(
        id=point_id(source.id, chunk.ordinal),
        dense=vector,
        sparse=sparse.encode_document(chunk.text),
        payload=source.payload,
    )


def _finish(pipeline: Pipeline, items: Sequence[Prepared]) -> None:
    """The documents still leased to us turn `ready` together; then older versions' points go."""
    if not items:
        return
    with pipeline.sessions.begin() as session:
        rows = finish.documents(session, [(i.source.tenant_id, i.source.id) for i in items])
        done = []
        for item in items:
            doc = rows.get(item.source.id)
            if _still_ours(doc, pipeline, item.source):
                done.append((doc, item.chunked))
        retired = finish.mark_ready(session, done) if done else []
    for tenant_id, old_id in retired:
        pipeline.index.delete_document(tenant_id, old_id)


def _still_ours(doc: Document | None, pipeline: Pipeline, source: Source) -> TypeGuard[Document]:
    """Whether the worker may finish `doc` (its row, read in the finishing transaction)."""
    if doc is None:  # erased while we worked: leave nothing behind
        pipeline.index.delete_document(source.tenant_id, source.id)
        return False
    if not leases.holds(doc, source.owner):
        # Our lease ran out and another worker took the document over; it writes the
        # same deterministic points and rows, so ours are left to it.
        log.warning("lease on document %s lost; leaving it to its new worker", doc.id)
        return False
    return True


@write_gate.writes
def _fail(pipeline: Pipeline, source: Source, reason: str) -> None:
    with pipeline.sessions.begin() as session:
        doc = Scope(session, source.tenant_id).find(Document, source.id)
        if doc is None or not leases.holds(doc, source.owner):
            return
        pipeline.index.delete_document(source.tenant_id, source.id)
        session.execute(delete(Chunk).where(Chunk.document_id == doc.id))
        doc.status, doc.error, doc.chunk_count = "failed", reason, 0
        doc.lease_owner = doc.lease_expires_at = None


def give_up(pipeline: Pipeline, document_id: uuid.UUID, *, owner: str, attempts: int) -> None:
    """Fail a document whose indexing was interrupted too many times (it may crash workers)."""
    reason = f"indexing was interrupted {attempts} times; giving up on this file"
    for source in _load_all(pipeline, [document_id], owner):
        _fail(pipeline, source, reason)
