"""Erasure: a deleted document or tenant leaves nothing retrievable, and a receipt says so."""

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ingest.blobs import BlobStore
from ingest.models import Job, JobItem
from retrieval import search
from retrieval.index import VectorIndex
from retrieval.models import Chunk, Document, DocumentTag, SearchRecord
from tenancy import tenants
from tenancy.ids import TenantId
from tenancy.models import ApiKey, AuditEvent, Tenant
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
    doc = scope.get(Document, document_id, kind="document")
    vectors = index.delete_document(scope.tenant_id, doc.id)
    redacted = search.redact_document(scope, doc.id)
    chunks = _count(scope.session, Chunk, Chunk.document_id == doc.id)
    scope.session.execute(delete(Chunk).where(Chunk.document_id == doc.id))
    scope.session.execute(delete(DocumentTag).where(DocumentTag.document_id == doc.id))
    scope.session.execute(delete(JobItem).where(JobItem.document_id == doc.id))
    scope.session.delete(doc)
    scope.session.flush()
    shared = scope.session.scalar(
        scope.select(Document).where(Document.sha256 == doc.sha256).with_only_columns(func.count())
    )
    removed = 0 if shared else blobs.delete(scope.tenant_id, doc.sha256)
    return Receipt(
        documents=1, chunks=chunks, vectors=vectors, blobs=removed, redacted_searches=redacted
    )


def delete_tenant(
    session: Session, index: VectorIndex, blobs: BlobStore, tenant_id: uuid.UUID
) -> Receipt:
    """Erase a tenant: vectors and blobs first (re-runnable), then every row in one transaction."""
    tenants.get(session, tenant_id)
    tid = TenantId(tenant_id)
    vectors = index.delete_tenant(tid)
    blob_count = blobs.delete_tenant(tid)
    counts = {name: _erase(session, model, tid) for name, model in _TENANT_TABLES}
    session.execute(delete(Tenant).where(Tenant.id == tid))
    session.flush()
    return Receipt(vectors=vectors, blobs=blob_count, **counts)


# Children before parents, so that no foreign key is left dangling mid-transaction.
_TENANT_TABLES: tuple[tuple[str, type], ...] = (
    ("chunks", Chunk),
    ("searches", SearchRecord),
    ("jobs", Job),
    ("documents", Document),
    ("keys", ApiKey),
    ("audit_events", AuditEvent),
)


def _erase(session: Session, model: type, tenant_id: TenantId) -> int:
    if model is Job:
        session.execute(delete(JobItem).where(JobItem.tenant_id == tenant_id))
    if model is Document:
        session.execute(delete(DocumentTag).where(DocumentTag.tenant_id == tenant_id))
    count = _count(session, model, model.tenant_id == tenant_id)  # type: ignore[attr-defined]
    session.execute(delete(model).where(model.tenant_id == tenant_id))  # type: ignore[attr-defined]
    return count


def _count(session: Session, model: type, condition: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(condition)) or 0)  # type: ignore[arg-type]
