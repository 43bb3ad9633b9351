"""Indexing a batch of documents, the first two stages: load and parse, then embed.

The third stage, storing points and rows, is `ingest.store`. A step that fails for one
document fails that document only (`fail`), never its siblings.
"""

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from opentelemetry import trace
from sqlalchemy import select

from ingest import gate as write_gate
from ingest import leases, quota, space
from ingest.blobs import BlobStore
from ingest.chunk import Chunked, chunk_elements
from ingest.errors import ParseError
from ingest.sandbox import Parser, in_process
from retrieval import documents, spans
from retrieval.embed import Embedder
from retrieval.index import VectorIndex
from retrieval.models import Document
from retrieval.points import PointPayload
from tenancy import system, tenants
from tenancy.db import SessionFactory
from tenancy.errors import QuotaExceeded
from tenancy.ids import TenantId
from tenancy.limits import Quota
from tenancy.scope import Scope

log = logging.getLogger("enclave.ingest")
tracer = trace.get_tracer("enclave.ingest")
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
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
    # And about this many bytes of originals, so that a batch of big files stays short and
    # the next claim (which takes the tenants in turn) comes soon: 1 MB of text embeds in
    # ~25 s here, which bounds how long another tenant's small document waits
    # (`benchmarks/fairness.py`; at 4 MB it waited for the whole 7.5 MB upload, 177 s).
    batch_bytes: int = 1024 * 1024
    max_chars: int = 1200
    # Held around each document's index writes and their SQL: a backup sees all or none.
    gate: write_gate.WriteGate = field(default_factory=write_gate.WriteGate)
    disk: space.Disk = field(default_factory=space.unlimited)


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


def prepare_batch(pipeline: Pipeline, document_ids: Sequence[uuid.UUID], *, owner: str) -> Batch:
    """Parse and chunk documents leased to `owner` (a worker does this for the next batch
    while the encoder works on the current one); unparseable ones, and those past their
    tenant's chunk quota, end `failed` here."""
    counts = {"enclave.ingest.documents": len(document_ids)}
    span = spans.start(tracer, "ingest.batch", counts)
    with spans.within(span):
        sources = load(pipeline, document_ids, owner)
        parsed = (guarded(pipeline, s, partial(_parse_one, pipeline, s)) for s in sources)
        prepared = _within_quota(pipeline, [p for p in parsed if p is not None])
        span.set_attribute("enclave.ingest.parsed", len(prepared))
    return Batch(list(document_ids), prepared, span)


def embed_batch(pipeline: Pipeline, batch: Batch) -> list[list[list[float]]] | None:
    """Embed all the batch's chunks together (the encoder is several times faster on full
    batches than on one small document at a time): each document's vectors, or None when
    the encoder failed (and with it, every document of the batch)."""
    with spans.within(batch.span):
        return _embed_all(pipeline, batch.prepared)


def _within_quota(pipeline: Pipeline, parsed: list[Prepared]) -> list[Prepared]:
    """Spend each tenant's chunk budget in batch order; fail the documents it cannot fit."""
    budgets: dict[TenantId, quota.ChunkBudget] = {}
    for item in parsed:
        if item.source.tenant_id not in budgets:
            budgets[item.source.tenant_id] = _chunk_budget(pipeline, item.source.tenant_id)
    spent = (
        guarded(pipeline, item.source, partial(_spend, budgets[item.source.tenant_id], item))
        for item in parsed
    )
    return [item for item in spent if item is not None]


def _spend(budget: quota.ChunkBudget, item: Prepared) -> Prepared:
    budget.spend(len(item.chunked.chunks))
    return item


def _chunk_budget(pipeline: Pipeline, tenant_id: TenantId) -> quota.ChunkBudget:
    with pipeline.sessions() as session:
        scope = Scope(session, tenant_id)
        return quota.chunk_budget(scope, tenants.quota(scope.tenant(), pipeline.quota))


def guarded(pipeline: Pipeline, source: Source, step: Callable[[], T]) -> T | None:
    """Run one step of one document; a failure fails that document only."""
    try:
        return step()
    except (ParseError, QuotaExceeded) as exc:
        fail(pipeline, source, str(exc))
    except Exception as exc:
        log.exception("ingestion of document %s failed", source.id)
        fail(pipeline, source, f"internal error while indexing ({type(exc).__name__})")
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
            fail(pipeline, item.source, f"internal error while embedding ({type(exc).__name__})")
        return None
    pipeline.observe("embed", time.perf_counter() - began, len(texts))
    out, start = [], 0
    for item in prepared:
        out.append(flat[start : start + len(item.chunked.chunks)])
        start += len(item.chunked.chunks)
    return out


@system.wide("a worker's batch spans tenants: it loads the documents leased to it by id")
def load(pipeline: Pipeline, document_ids: Sequence[uuid.UUID], owner: str) -> list[Source]:
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
        access=doc.access_tokens,
    )
    tenant = TenantId(doc.tenant_id)
    return Source(doc.id, tenant, doc.sha256, doc.media_type, doc.filename, payload, owner)


def _parse_one(pipeline: Pipeline, source: Source) -> Prepared:
    return Prepared(source, _parse(pipeline, source))


def _parse(pipeline: Pipeline, source: Source) -> Chunked:
    with spans.span(tracer, "ingest.parse", span_attributes(source)) as span:
        data = pipeline.blobs.get(source.tenant_id, source.sha256)
        start = time.perf_counter()
        elements = pipeline.parser(data, source.media_type, source.filename)
        span.set_attribute("enclave.ingest.elements", len(elements))
    parsed = time.perf_counter()
    with spans.span(tracer, "ingest.chunk", span_attributes(source)) as span:
        chunked = chunk_elements(elements, max_chars=pipeline.max_chars)
        span.set_attribute("enclave.ingest.chunks", len(chunked.chunks))
    pipeline.observe("parse", parsed - start, 0)
    pipeline.observe("chunk", time.perf_counter() - parsed, len(chunked.chunks))
    if not chunked.chunks:
        raise ParseError("no extractable text")
    return chunked


def span_attributes(source: Source) -> dict[str, str | int]:
    """What a trace may say about a document: never its text or its filename."""
    return {
        "enclave.tenant.id": str(source.tenant_id),
        "enclave.document.id": str(source.id),
        "enclave.document.media_type": source.media_type,
    }


@write_gate.writes
def fail(pipeline: Pipeline, source: Source, reason: str) -> None:
    """Fail one document that is still leased to `source.owner`: no points, no chunks."""
    with pipeline.sessions.begin() as session:
        scope = Scope(session, source.tenant_id)
        doc = scope.find(Document, source.id)
        if doc is None or not leases.holds(doc, source.owner):
            return
        pipeline.index.delete_document(source.tenant_id, source.id)
        documents.fail(scope, doc, reason)


def give_up(pipeline: Pipeline, document_id: uuid.UUID, *, owner: str, attempts: int) -> None:
    """Fail a document whose indexing was interrupted too many times (it may crash workers)."""
    reason = f"indexing was interrupted {attempts} times; giving up on this file"
    for source in load(pipeline, [document_id], owner):
        fail(pipeline, source, reason)
