"""Erasure: a deleted document or tenant leaves nothing retrievable, and a receipt says so."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.orm import Session

from ingest.blobs import BlobStore
from ingest.models import Job, JobItem, SyncEntry, SyncRun
from retrieval import documents, replay
from retrieval.index import VectorIndex
from retrieval.models import Chunk, Document, DocumentTag, SearchRecord, Source
from tenancy import tenants
from tenancy.ids import TenantId
from tenancy.models import ApiKey, AuditEvent
from tenancy.scope import Scope


@dataclass(frozen=True)
class Receipt:
    """What an erasure removed."""

    documents: int = 0
    chunks: int = 0
    vectors: int = 0
    blobs: int = 0
    jobs: int = 0
    keys: int = 0
    searches: int = 0
    audit_events: int = 0
    redacted_searches: int = 0


def delete_document(
    scope: Scope, index: VectorIndex, blobs: BlobStore, document_id: uuid.UUID
) -> Receipt:
    """Erase one document: vectors, chunk rows, the row itself and its blob if unshared."""
    doc = documents.get(scope, document_id)
    vectors = index.delete_document(scope.tenant_id, doc.id)
    redacted = replay.redact_document(scope, doc.id)
    scope.delete(JobItem, JobItem.document_id == doc.id)
    chunks = documents.erase(scope, doc)
    shared = documents.is_shared(scope, doc.sha256)
    removed = 0 if shared else blobs.delete(scope.tenant_id, doc.sha256)
    return Receipt(
        documents=1, chunks=chunks, vectors=vectors, blobs=removed, redacted_searches=redacted
    )


def combined(receipts: Sequence[Receipt]) -> Receipt:
    """One receipt for several erasures (a path's versions, a source's documents)."""
    totals = {name: sum(getattr(r, name) for r in receipts) for name in _FIELDS}
    return Receipt(**totals)


_FIELDS = tuple(f.name for f in fields(Receipt))


def delete_tenant(
    session: Session, index: VectorIndex, blobs: BlobStore, tenant_id: uuid.UUID
) -> Receipt:
    """Erase a tenant: vectors and blobs first (re-runnable), then every row in one transaction."""
    tenants.get(session, tenant_id)
    scope = Scope(session, TenantId(tenant_id))
    vectors = index.delete_tenant(scope.tenant_id)
    blob_count = blobs.delete_tenant(scope.tenant_id)
    counts: dict[str, int] = {}
    for name, model in _TENANT_TABLES:
        removed = scope.delete(model)
        if name:
            counts[name] = removed
    tenants.delete(session, tenant_id)
    return Receipt(vectors=vectors, blobs=blob_count, **counts)


# Children before parents, so that no foreign key is left dangling mid-transaction; the
# receipt counts the rows a tenant would recognise (unnamed ones are deleted uncounted).
_TENANT_TABLES: tuple[tuple[str, type[Any]], ...] = (
    ("chunks", Chunk),
    ("searches", SearchRecord),
    ("", JobItem),
    ("jobs", Job),
    ("", SyncEntry),
    ("", SyncRun),
    ("", DocumentTag),
    ("documents", Document),
    ("", Source),
    ("keys", ApiKey),
    ("audit_events", AuditEvent),
)
