"""Tables of the tenant's corpus: documents, their tags and chunks, and recorded searches."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from tenancy.db import Base, text_enum, utcnow
from tenancy.models import TenantOwned


class DocumentStatus(enum.StrEnum):
    """Where a document is in its life. `retrieval.documents` makes every change but the
    queue's (claims and releases, `ingest.leases`):

        queued --claim--> processing --ready--> ready --a newer version ready--> superseded
          ^                  |     \\--fail--> failed
          \\--release/requeue-/

    Only `ready` documents are searchable; erasure removes a document in any state.
    """

    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    SUPERSEDED = "superseded"


# Waiting for or in the hands of a worker.
PENDING = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)
# Where indexing ends.
TERMINAL = frozenset({DocumentStatus.READY, DocumentStatus.FAILED, DocumentStatus.SUPERSEDED})


class Source(TenantOwned, Base):
    """A named document set of a tenant (a folder, a share, a bucket prefix) that syncs mirror:
    a document's identity inside it is its path."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_sources_tenant_name"),)

    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(TenantOwned, Base):
    """One version of an uploaded file; `text` is the canonical text citations index into.

    Versions of one document share a lineage: its path in its source, or else its
    `external_id`; the newest ready version retires the others."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_tenant_sha", "tenant_id", "sha256"),
        Index("ix_documents_tenant_external", "tenant_id", "external_id"),
        Index("ix_documents_tenant_source_path", "tenant_id", "source_id", "path"),
    )

    filename: Mapped[str] = mapped_column(String(512))
    path: Mapped[str | None] = mapped_column(String(1024), default=None)
    media_type: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    version: Mapped[int] = mapped_column(default=1)
    external_id: Mapped[str | None] = mapped_column(String(256), default=None)
    # No cascade: a source's documents are erased (vectors, originals) before its row goes.
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"), default=None)
    status: Mapped[DocumentStatus] = mapped_column(
        text_enum(DocumentStatus), default=DocumentStatus.QUEUED, index=True
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    chunk_count: Mapped[int] = mapped_column(default=0)
    page_count: Mapped[int | None] = mapped_column(default=None)
    text: Mapped[str | None] = deferred(mapped_column(Text, default=None))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The ingestion lease: which worker holds this `processing` document and until when.
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Loaded with the document it belongs to (read through the scope), in upload order.
    tag_rows: Mapped[list["DocumentTag"]] = relationship(
        lazy="selectin", order_by="DocumentTag.position", cascade="all, delete-orphan"
    )

    @property
    def tags(self) -> list[str]:
        """The document's tags, in the order they were given."""
        return [row.tag for row in self.tag_rows]


class DocumentTag(TenantOwned, Base):
    """A tag of a document, as its own row: listing by tag is a plain indexed query."""

    __tablename__ = "document_tags"
    __table_args__ = (Index("ix_document_tags_tenant_tag", "tenant_id", "tag"),)

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(default=0, server_default="0")


class Chunk(TenantOwned, Base):
    """A cited passage: `text == document.text[char_start:char_end]`."""

    __tablename__ = "chunks"
    # Search resolves hits with `tenant_id = ? AND id IN (...)`. With only the single-column
    # indexes, SQLite scans the tenant's whole chunk index (40 ms at 100k chunks) instead
    # of looking the ids up (0.03 ms); the composite index serves both conditions.
    __table_args__ = (Index("ix_chunks_tenant_id_id", "tenant_id", "id"),)

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    char_start: Mapped[int]
    char_end: Mapped[int]
    page_start: Mapped[int | None]
    page_end: Mapped[int | None]
    section: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))


class SearchRecord(TenantOwned, Base):
    """A search and exactly what it returned, for replay."""

    __tablename__ = "searches"

    key_id: Mapped[uuid.UUID | None]
    query: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    top_k: Mapped[int]
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
