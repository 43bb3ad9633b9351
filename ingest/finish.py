"""The SQL half of indexing documents: chunk rows in, status `ready`, older versions retired.

The worker calls this once per batch, in one transaction, after the batch's points are in
the index; a batch may span tenants, so every read goes through each tenant's scope.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ingest.chunk import Chunked, TextChunk
from retrieval.models import Chunk, Document
from retrieval.points import point_id
from tenancy.ids import TenantId
from tenancy.scope import Scope


def documents(
    session: Session, wanted: Sequence[tuple[TenantId, uuid.UUID]]
) -> dict[uuid.UUID, Document]:
    """The rows of the wanted (tenant, document) pairs that still exist, by id."""
    by_tenant: dict[TenantId, list[uuid.UUID]] = defaultdict(list)
    for tenant_id, document_id in wanted:
        by_tenant[tenant_id].append(document_id)
    found: dict[uuid.UUID, Document] = {}
    for tenant_id, ids in by_tenant.items():
        scope = Scope(session, tenant_id)
        rows = scope.all(scope.select(Document).where(Document.id.in_(ids)))
        found.update((doc.id, doc) for doc in rows)
    return found


def mark_ready(
    session: Session, finished: Sequence[tuple[Document, Chunked]]
) -> list[tuple[TenantId, uuid.UUID]]:
    """Replace the documents' chunk rows, turn them `ready` and release their leases; return
    the (tenant, id) of the older versions this retires, whose points the caller removes."""
    ids = [doc.id for doc, _ in finished]
    session.execute(delete(Chunk).where(Chunk.document_id.in_(ids)))
    retired: list[tuple[TenantId, uuid.UUID]] = []
    for doc, chunked in finished:
        retired += _ready(session, doc, chunked)
    return retired


def _ready(session: Session, doc: Document, chunked: Chunked) -> list[tuple[TenantId, uuid.UUID]]:
    """One document turned `ready`, and what that retires."""
    tenant_id = TenantId(doc.tenant_id)
    doc.lease_owner = doc.lease_expires_at = None
    if doc.status == "superseded":  # a newer version earlier in this batch retired it
        return [(tenant_id, doc.id)]
    session.add_all(_chunk_rows(doc, chunked.chunks))
    doc.text, doc.chunk_count, doc.page_count = (
        chunked.text,
        len(chunked.chunks),
        chunked.page_count,
    )
    doc.status, doc.error = "ready", None
    return [(tenant_id, old) for old in _supersede(Scope(session, tenant_id), doc)]


def _chunk_rows(doc: Document, chunks: Sequence[TextChunk]) -> list[Chunk]:
    return [
        Chunk(
            id=point_id(doc.id, c.ordinal),
            tenant_id=doc.tenant_id,
            document_id=doc.id,
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
