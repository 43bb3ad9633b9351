"""Indexing a batch of documents, the last stage: points into the index, then the rows.

A batch's points are written document by document; then all its documents turn `ready`
in one transaction (one commit per batch, not per document), their older versions retire
and those versions' points go. Should the batch transaction fail, each document finishes
on its own.
"""

import logging
import time
import uuid
from collections.abc import Sequence
from functools import partial
from typing import TypeGuard

from ingest import gate as write_gate
from ingest import leases
from ingest import pipeline as pipe
from ingest.chunk import TextChunk
from retrieval import documents, spans, sparse
from retrieval.models import Document, DocumentStatus
from retrieval.points import IndexPoint, point_id
from tenancy.ids import TenantId
from tenancy.scope import Scope

log = logging.getLogger("enclave.ingest")

Embedded = list[tuple[pipe.Prepared, list[list[float]]]]


def process_batch(
    pipeline: pipe.Pipeline, document_ids: Sequence[uuid.UUID], *, owner: str
) -> None:
    """Index documents leased to `owner`: prepare, embed, store, one after the other."""
    batch = pipe.prepare_batch(pipeline, document_ids, owner=owner)
    store_batch(pipeline, batch, pipe.embed_batch(pipeline, batch))


def store_batch(
    pipeline: pipe.Pipeline, batch: pipe.Batch, vectors: list[list[list[float]]] | None
) -> None:
    """Store the embedded documents, which still end `ready` or `failed` each on its own (a
    worker does this while the encoder embeds the next batch)."""
    with spans.within(batch.span, end=True):
        if vectors is not None:
            # The disk filled up meanwhile: the batch is retried once there is room again,
            # since a write to the index's memory-mapped files on a full disk kills the process.
            pipeline.disk.check_floor()
            _store(pipeline, list(zip(batch.prepared, vectors, strict=True)))


@write_gate.writes
def _store(pipeline: pipe.Pipeline, embedded: Embedded) -> None:
    """Write each document's points, then turn them all `ready` in one transaction."""
    written = [
        item
        for item, vectors in embedded
        if pipe.guarded(pipeline, item.source, partial(_write_points, pipeline, item, vectors))
    ]
    try:
        _finish(pipeline, written)
    except Exception:
        log.exception("finishing %d documents together failed; one by one now", len(written))
        for item in written:
            pipe.guarded(pipeline, item.source, partial(_finish, pipeline, [item]))


def _write_points(
    pipeline: pipe.Pipeline, item: pipe.Prepared, vectors: list[list[float]]
) -> pipe.Prepared:
    """Replace whatever an interrupted attempt left in the index with this document's points."""
    source, chunks = item.source, item.chunked.chunks
    pipeline.index.delete_document(source.tenant_id, source.id)
    points = [_point(source, c, v) for c, v in zip(chunks, vectors, strict=True)]
    began = time.perf_counter()
    attributes = pipe.span_attributes(source) | {"enclave.ingest.points": len(points)}
    with spans.span(pipe.tracer, "ingest.upsert", attributes):
        for start in range(0, len(points), pipeline.batch_size):
            pipeline.index.upsert(source.tenant_id, points[start : start + pipeline.batch_size])
    pipeline.observe("upsert", time.perf_counter() - began, len(points))
    return item


def _point(source: pipe.Source, chunk: TextChunk, vector: list[float]) -> IndexPoint:
    return IndexPoint(
        id=point_id(source.id, chunk.ordinal),
        dense=vector,
        sparse=sparse.encode_document(chunk.text),
        payload=source.payload,
    )


def _finish(pipeline: pipe.Pipeline, items: Sequence[pipe.Prepared]) -> None:
    """The documents still leased to us turn `ready` together; then older versions' points go."""
    if not items:
        return
    retired: list[tuple[TenantId, uuid.UUID]] = []
    with pipeline.sessions.begin() as session:
        for tenant_id, group in _by_tenant(items).items():
            scope = Scope(session, tenant_id)
            rows = documents.rows(scope, [item.source.id for item in group])
            for item in group:
                doc = rows.get(item.source.id)
                if _still_ours(doc, pipeline, item.source):
                    retired += [
                        (tenant_id, old) for old in documents.ready(scope, doc, item.chunked)
                    ]
    for tenant_id, old_id in retired:
        pipeline.index.delete_document(tenant_id, old_id)


def _by_tenant(items: Sequence[pipe.Prepared]) -> dict[TenantId, list[pipe.Prepared]]:
    """A batch may span tenants: its documents grouped by tenant, in batch order."""
    groups: dict[TenantId, list[pipe.Prepared]] = {}
    for item in items:
        groups.setdefault(item.source.tenant_id, []).append(item)
    return groups


def _still_ours(
    doc: Document | None, pipeline: pipe.Pipeline, source: pipe.Source
) -> TypeGuard[Document]:
    """Whether the worker may finish `doc` (its row, read in the finishing transaction)."""
    if doc is None or doc.status == DocumentStatus.ERASING:  # erased while we worked:
        # leave nothing behind
        pipeline.index.delete_document(source.tenant_id, source.id)
        return False
    if not leases.holds(doc, source.owner):
        # Our lease ran out and another worker took the document over; it writes the
        # same deterministic points and rows, so ours are left to it.
        log.warning("lease on document %s lost; leaving it to its new worker", doc.id)
        return False
    return True
