"""Tables of the tenant's corpus: documents, their tags and chunks, and recorded searches."""

import enum
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    exists,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from tenancy import scope
from tenancy.access import Access, access_of
from tenancy.db import Base, text_enum, utcnow
from tenancy.models import TenantOwned


class DocumentStatus(enum.StrEnum):
    """Where a document is in its life. `retrieval.documents` makes every change but the
    queue's (claims and releases, `ingest.leases`):

        queued --claim--> processing --ready--> ready --a newer version ready--> superseded
          ^                  |     \\--fail--> failed
          \\--release/requeue-/

    Only `ready` documents are searchable. Erasure takes a document in any state to
    `erasing` (committed first: every read treats it as gone) and then removes it
    (`ingest.erasure`).
    """

    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    ERASING = "erasing"


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
    # Who may read the source's documents: null is tenant-wide, else {"users", "groups"}.
    access: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, default=None)


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
    # The payload version its points were written with (`points.PAYLOAD_VERSION`): older
    # ones are brought up to date when a worker starts (`ingest.backfill`).
    payload_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # Loaded with the document it belongs to (read through the scope), in upload order.
    tag_rows: Mapped[list["DocumentTag"]] = relationship(
        lazy="selectin", order_by="DocumentTag.position", cascade="all, delete-orphan"
    )

    # Its access tokens (`tenancy.access`), loaded with it; `*` alone is tenant-wide.
    access_rows: Mapped[list["DocumentAccess"]] = relationship(
        lazy="selectin", order_by="DocumentAccess.token", cascade="all, delete-orphan"
    )

    @property
    def tags(self) -> list[str]:
        """The document's tags, in the order they were given."""
        return [row.tag for row in self.tag_rows]

    @property
    def access_tokens(self) -> tuple[str, ...]:
        """The tokens a reader must share to read this document."""
        return tuple(row.token for row in self.access_rows)

    @property
    def access(self) -> Access | None:
        """Who may read it besides admins; None: everyone in the tenant."""
        return access_of(self.access_tokens)


class DocumentTag(TenantOwned, Base):
    """A tag of a document, as its own row: listing by tag is a plain indexed query."""

    __tablename__ = "document_tags"
    __table_args__ = (Index("ix_document_tags_tenant_tag", "tenant_id", "tag"),)

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(default=0, server_default="0")


class DocumentAccess(TenantOwned, Base):
    """One access token of a document: `*`, `u:<user>` or `g:<group>` (`tenancy.access`)."""

    __tablename__ = "document_access"
    __table_args__ = (Index("ix_document_access_document_token", "document_id", "token"),)

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(300))


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
    # The same span in UTF-16 code units (JavaScript string indices) is char_start/char_end
    # plus these: the characters beyond the BMP before each end (0 for most documents, so
    # adding the columns rewrote no row).
    utf16_shift_start: Mapped[int] = mapped_column(server_default="0")
    utf16_shift_end: Mapped[int] = mapped_column(server_default="0")

    @property
    def utf16_start(self) -> int:
        """The start in UTF-16 code units."""
        return self.char_start + self.utf16_shift_start

    @property
    def utf16_end(self) -> int:
        """The end in UTF-16 code units."""
        return self.char_end + self.utf16_shift_end

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
    # Who searched (`user:<name>` or `key:<id>`) and the access tokens applied (null: all).
    identity: Mapped[str | None] = mapped_column(String(300), default=None)
    access: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # The signed receipt the search answered with (a compact JWS; `retrieval.receipts`).
    receipt: Mapped[str | None] = mapped_column(Text, default=None)


def _readable(table: Table, tokens: Any) -> ColumnElement[bool]:
    """A document (or a chunk, by its document) carries one of the caller's tokens."""
    document = table.c.id if table.name == Document.__tablename__ else table.c.document_id
    granted = DocumentAccess.document_id == document, DocumentAccess.token.in_(tokens)
    return exists().where(*granted)


# Isolation inside a tenant: the scope guards documents and chunks with the caller's tokens.
scope.guard(cast(Table, Document.__table__), _readable)
scope.guard(cast(Table, Chunk.__table__), _readable)
