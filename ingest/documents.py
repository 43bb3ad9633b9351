"""Reading a tenant's documents: metadata, canonical text, original bytes."""

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import undefer

from ingest.blobs import BlobStore
from retrieval.models import Document, DocumentTag
from tenancy.errors import NotFound
from tenancy.scope import Scope

STATUSES = frozenset({"queued", "processing", "ready", "failed", "superseded"})


@dataclass(frozen=True)
class DocumentQuery:
    """Listing filters and keyset pagination (newest first)."""

    status: str | None = None
    tag: str | None = None
    limit: int = 50
    offset: int = 0


def list_documents(scope: Scope, query: DocumentQuery) -> list[Document]:
    """The tenant's documents, filtered and paginated."""
    stmt = scope.select(Document)
    if query.status:
        stmt = stmt.where(Document.status == query.status)
    if query.tag:
        tagged = scope.select(DocumentTag).where(DocumentTag.tag == query.tag)
        stmt = stmt.where(Document.id.in_(tagged.with_only_columns(DocumentTag.document_id)))
    stmt = stmt.order_by(Document.created_at.desc(), Document.id)
    return scope.all(stmt.limit(query.limit).offset(query.offset))


def get_document(scope: Scope, document_id: uuid.UUID) -> Document:
    """One document of the tenant, or NotFound."""
    return scope.get(Document, document_id, kind="document")


def get_text(scope: Scope, document_id: uuid.UUID) -> str:
    """The canonical text citations index into; NotFound until the document is indexed."""
    stmt = scope.select(Document).where(Document.id == document_id).options(undefer(Document.text))
    document = scope.session.scalars(stmt).one_or_none()
    if document is None or document.text is None:
        raise NotFound("document")
    return document.text


def get_content(scope: Scope, blobs: BlobStore, document_id: uuid.UUID) -> tuple[Document, bytes]:
    """The original bytes as uploaded."""
    document = get_document(scope, document_id)
    return document, blobs.get(scope.tenant_id, document.sha256)
