"""Processing one document: parse, chunk, embed, index, then flip it to `ready` atomically."""

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from ingest import quota
from ingest.blobs import BlobStore
from ingest.chunk import Chunked, TextChunk, chunk_elements
from ingest.errors import ParseError
from ingest.sandbox import Parser, in_process
from retrieval import sparse
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
    max_chars: int = 1200


@dataclass(frozen=True)
class Source:
    """What the worker needs of a document, read in a short transaction."""

    id: uuid.UUID
    tenant_id: TenantId
    sha256: str
    media_type: str
    filename: str
    payload: PointPayload


def process(pipeline: Pipeline, document_id: uuid.UUID) -> None:
    """Index one claimed document; any failure ends it `failed` with a readable reason."""
    source = _load(pipeline, document_id)
    if source is None:
        return
    try:
        chunked = _parse(pipeline, source)
        _check_quota(pipeline, source, len(chunked.chunks))
        _index(pipeline, source, chunked)
        _finish(pipeline, source, chunked)
    except (ParseError, QuotaExceeded) as exc:
        _fail(pipeline, source, str(exc))
    except Exception as exc:
        log.exception("ingestion of document %s failed", source.id)
        _fail(pipeline, source, f"internal error while indexing ({type(exc).__name__})")


def _load(pipeline: Pipeline, document_id: uuid.UUID) -> Source | None:
    with pipeline.sessions() as session:
        doc = session.get(Document, document_id)
        if doc is None:
            return None
        payload = PointPayload(
            tenant_id=doc.tenant_id,
            document_id=doc.id,
            version=doc.version,
            media_type=doc.media_type,
            created_at=doc.created_at,
            tags=tuple(doc.tags),
        )
        tenant = TenantId(doc.tenant_id)
        return Source(doc.id, tenant, doc.sha256, doc.media_type, doc.filename, payload)


def _parse(pipeline: Pipeline, source: Source) -> Chunked:
    data = pipeline.blobs.get(source.tenant_id, source.sha256)
    start = time.perf_counter()
    elements = pipeline.parser(data, source.media_type, source.filename)
    parsed = time.perf_counter()
    chunked = chunk_elements(elements, max_chars=pipeline.max_chars)
    pipeline.observe("parse", parsed - start, 0)
    pipeline.observe("chunk", time.perf_counter() - parsed, len(chunked.chunks))
    if not chunked.chunks:
        raise ParseError("no extractable text")
    return chunked


def _check_quota(pipeline: Pipeline, source: Source, adding: int) -> None:
    with pipeline.sessions() as session:
        tenant = tenants.get(session, source.tenant_id)
        quota.check_chunks(
            Scope(session, source.tenant_id), tenants.quota(tenant, pipeline.quota), adding
        )


def _index(pipeline: Pipeline, source: Source, chunked: Chunked) -> None:
    # Drop whatever an interrupted earlier attempt left, then write in batches.
    pipeline.index.delete_document(source.tenant_id, source.id)
    for start in range(0, len(chunked.chunks), pipeline.batch_size):
        _write_batch(pipeline, source, chunked.chunks[start : start + pipeline.batch_size])


def _write_batch(pipeline: Pipeline, source: Source, batch: Sequence[TextChunk]) -> None:
    began = time.perf_counter()
    points = _points(pipeline.embedder, source, batch)
    embedded = time.perf_counter()
    pipeline.index.upsert(source.tenant_id, points)
    pipeline.observe("embed", embedded - began, len(batch))
    pipeline.observe("upsert", time.perf_counter() - embedded, len(batch))


def _points(embedder: Embedder, source: Source, batch: Sequence[TextChunk]) -> list[IndexPoint]:
    vectors = embedder.embed_documents([c.text for c in batch])
    return [
        IndexPoint(
            id=point_id(source.id, c.ordinal),
            dense=vector,
            sparse=sparse.encode_document(c.text),
            payload=source.payload,
        )
        for c, vector in zip(batch, vectors, strict=True)
    ]


def _finish(pipeline: Pipeline, source: Source, chunked: Chunked) -> None:
    with pipeline.sessions.begin() as session:
        scope = Scope(session, source.tenant_id)
        doc = scope.find(Document, source.id)
        if doc is None:  # erased while we worked: leave nothing behind
            pipeline.index.delete_document(source.tenant_id, source.id)
            return
        session.execute(delete(Chunk).where(Chunk.document_id == doc.id))
        session.add_all(_chunk_rows(source, chunked.chunks))
        doc.text, doc.chunk_count, doc.page_count = (
            chunked.text,
            len(chunked.chunks),
            chunked.page_count,
        )
        doc.status, doc.error = "ready", None
        old = _supersede(scope, doc)
    for old_id in old:
        pipeline.index.delete_document(source.tenant_id, old_id)


def _chunk_rows(source: Source, chunks: Sequence[TextChunk]) -> list[Chunk]:
    return [
        Chunk(
            id=point_id(source.id, c.ordinal),
            tenant_id=source.tenant_id,
            document_id=source.id,
            ordinal=c.ordinal,
            text=c.text,
            char_start=c.char_start,
            char_end=c.char_end,
            page_start=c.page_start,
            page_end=c.page_end,
            section=c.section,
            sha256=c.sha256,
        )
        for c in chunks
    ]


def _supersede(scope: Scope, doc: Document) -> list[uuid.UUID]:
    """In the same transaction as `doc` turning ready, retire its older versions."""
    if doc.external_id is None:
        return []
    query = scope.select(Document).where(
        Document.external_id == doc.external_id,
        Document.version < doc.version,
        Document.status != "superseded",
    )
    older = scope.all(query)
    for row in older:
        row.status = "superseded"
    ids = [row.id for row in older]
    if ids:
        scope.session.execute(delete(Chunk).where(Chunk.document_id.in_(ids)))
    return ids


def _fail(pipeline: Pipeline, source: Source, reason: str) -> None:
    pipeline.index.delete_document(source.tenant_id, source.id)
    with pipeline.sessions.begin() as session:
        doc = Scope(session, source.tenant_id).find(Document, source.id)
        if doc is not None:
            session.execute(delete(Chunk).where(Chunk.document_id == doc.id))
            doc.status, doc.error, doc.chunk_count = "failed", reason, 0


def claim_next(sessions: SessionFactory) -> uuid.UUID | None:
    """Mark the oldest queued document `processing`; return its id (a system-wide query)."""
    with sessions.begin() as session:
        query = select(Document).where(Document.status == "queued").order_by(Document.created_at)
        doc = session.scalars(query.limit(1).with_for_update(skip_locked=True)).first()
        if doc is None:
            return None
        doc.status = "processing"
        return doc.id


def requeue_interrupted(sessions: SessionFactory) -> int:
    """After a crash, documents left `processing` go back to the queue."""
    with sessions.begin() as session:
        rows = list(session.scalars(select(Document).where(Document.status == "processing")))
        for doc in rows:
            doc.status = "queued"
        return len(rows)
