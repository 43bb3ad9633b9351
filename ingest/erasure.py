"""Erasure: a deleted document or tenant leaves nothing retrievable, and a receipt says so.

Erasing touches three stores that share no transaction: the index, the blob store and the
database. So it happens in two steps, and a crash between or during them loses nothing:

1. The intent, committed on its own (`intent`): documents turn `erasing` (every read then
   treats them as gone, and their text leaves recorded searches); a tenant gets
   `erasing_at` and its keys are revoked.
2. The erasure proper, each step idempotent: vectors, originals, then the rows, with the
   audit event, in the request's transaction.

What a crash leaves in step 2 is finished by `resume`, which every worker runs on start and
then when idle.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import gate as write_gate
from ingest.blobs import BlobStore
from ingest.models import Job, JobItem, SyncEntry, SyncRun
from retrieval import documents, replay
from retrieval.index import VectorIndex
from retrieval.models import Chunk, Document, DocumentStatus, DocumentTag, SearchRecord, Source
from tenancy import audit, system, tenants
from tenancy.db import SessionFactory, utcnow
from tenancy.ids import TenantId
from tenancy.models import ApiKey, AuditEvent, Tenant
from tenancy.scope import Scope

# Commits the intent (the caller's transaction boundary: `api.transaction.intent`).
Commit = Callable[[], None]


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


def combined(receipts: Sequence[Receipt]) -> Receipt:
    """One receipt for several erasures (a path's versions, a source's documents)."""
    totals = {name: sum(getattr(r, name) for r in receipts) for name in _FIELDS}
    return Receipt(**totals)


_FIELDS = tuple(f.name for f in fields(Receipt))


# -- documents ----------------------------------------------------------------------------


def delete_document(
    scope: Scope,
    index: VectorIndex,
    blobs: BlobStore,
    document_id: uuid.UUID,
    *,
    intent: Commit,
) -> Receipt:
    """Erase one document: vectors, chunk rows, the row itself and its blob if unshared."""
    return delete_documents(scope, index, blobs, [documents.get(scope, document_id)], intent=intent)


def delete_documents(
    scope: Scope, index: VectorIndex, blobs: BlobStore, docs: Sequence[Document], *, intent: Commit
) -> Receipt:
    """Erase `docs` together: all are marked `erasing` in one committed step, then erased."""
    redacted = mark(scope, docs)
    intent()
    return combined([finish(scope, index, blobs, doc, redacted.get(doc.id, 0)) for doc in docs])


def mark(scope: Scope, docs: Sequence[Document]) -> dict[uuid.UUID, int]:
    """Step 1 for documents: `erasing`, unleased (a worker drops its work on them), and their
    text stripped from recorded searches; returns the searches redacted per document."""
    redacted: dict[uuid.UUID, int] = {}
    for doc in docs:
        doc.status = DocumentStatus.ERASING
        doc.lease_owner = doc.lease_expires_at = None
        redacted[doc.id] = replay.redact_document(scope, doc.id)
    scope.flush()
    return redacted


def finish(
    scope: Scope, index: VectorIndex, blobs: BlobStore, doc: Document, redacted: int = 0
) -> Receipt:
    """Step 2 for one `erasing` document; re-runnable after a crash at any point."""
    vectors = index.delete_document(scope.tenant_id, doc.id)
    scope.delete(JobItem, JobItem.document_id == doc.id)
    sha256 = doc.sha256
    chunks = documents.erase(scope, doc)
    shared = documents.is_shared(scope, sha256)
    removed = 0 if shared else blobs.delete(scope.tenant_id, sha256)
    return Receipt(
        documents=1, chunks=chunks, vectors=vectors, blobs=removed, redacted_searches=redacted
    )


# -- tenants ------------------------------------------------------------------------------


def delete_tenant(
    session: Session, index: VectorIndex, blobs: BlobStore, tenant_id: uuid.UUID, *, intent: Commit
) -> Receipt:
    """Erase a tenant: its keys stop at once (step 1), then vectors and blobs, then every
    row in one transaction. A tenant left `erasing` by a crash can be deleted again."""
    tenant = tenants.get(session, tenant_id, erasing=True)
    scope = Scope(session, TenantId(tenant.id))
    if tenant.erasing_at is None:
        tenant.erasing_at = utcnow()
        scope.update(ApiKey, ApiKey.revoked_at.is_(None), revoked_at=tenant.erasing_at)
        session.flush()
        intent()
    return finish_tenant(session, index, blobs, scope.tenant_id)


def finish_tenant(
    session: Session, index: VectorIndex, blobs: BlobStore, tenant_id: TenantId
) -> Receipt:
    """Step 2 for a tenant `erasing`: re-runnable after a crash at any point."""
    scope = Scope(session, tenant_id)
    vectors = index.delete_tenant(tenant_id)
    blob_count = blobs.delete_tenant(tenant_id)
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


# -- resuming -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    """What `resume` finished."""

    documents: int = 0
    tenants: int = 0


def resume(
    sessions: SessionFactory,
    index: VectorIndex,
    blobs: BlobStore,
    *,
    gate: write_gate.WriteGate,
    after_s: float,
) -> Resumed:
    """Finish the erasures whose intent is older than `after_s` (younger ones may still be
    under way in a request); each is audited as `*.delete` with `resumed: true`."""
    cutoff = utcnow() - timedelta(seconds=after_s)
    with sessions() as session:
        pending_docs, pending_tenants = _pending(session, cutoff)
    for tenant_id in pending_tenants:
        with gate.writing(), sessions.begin() as session:
            receipt = finish_tenant(session, index, blobs, tenant_id)
            _audit(session, None, "tenant.delete", str(tenant_id), receipt)
    for tenant_id, document_id in pending_docs:
        if tenant_id not in pending_tenants:
            with gate.writing(), sessions.begin() as session:
                scope = Scope(session, tenant_id)
                finished = _resume_document(scope, index, blobs, document_id)
                if finished is not None:
                    _audit(session, tenant_id, "document.delete", str(document_id), finished)
    return Resumed(documents=len(pending_docs), tenants=len(pending_tenants))


def _resume_document(
    scope: Scope, index: VectorIndex, blobs: BlobStore, document_id: uuid.UUID
) -> Receipt | None:
    doc = scope.get(Document, document_id, kind="document")
    if doc.status != DocumentStatus.ERASING:
        return None
    return finish(scope, index, blobs, doc)


@system.wide("unfinished erasures are found across tenants, then finished each in its scope")
def _pending(
    session: Session, cutoff: Any
) -> tuple[list[tuple[TenantId, uuid.UUID]], list[TenantId]]:
    docs = session.execute(
        select(Document.tenant_id, Document.id).where(
            Document.status == DocumentStatus.ERASING, Document.updated_at <= cutoff
        )
    ).all()
    gone = session.scalars(
        select(Tenant.id).where(Tenant.erasing_at.is_not(None), Tenant.erasing_at <= cutoff)
    ).all()
    return [(TenantId(t), d) for t, d in docs], [TenantId(t) for t in gone]


def _audit(
    session: Session, tenant_id: TenantId | None, action: str, target: str, receipt: Receipt
) -> None:
    entry = audit.Entry(
        action=action,
        targets=[target],
        details={"resumed": True, "receipt": {f: getattr(receipt, f) for f in _FIELDS}},
    )
    audit.record(session, tenant_id, audit.Actor(None, "erasure-resume"), entry)
