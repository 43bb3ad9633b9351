"""Documents and their states: the one module that reads document rows and changes them.

The life of a document is drawn on `DocumentStatus`. Uploads create documents here, the
ingestion worker turns them `ready` or `failed` here, a newer version retires the older
ones here, and erasure removes their rows here; every one of these goes through the
caller's tenant scope.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import undefer

from retrieval import citations
from retrieval.models import Chunk, Document, DocumentAccess, DocumentStatus, DocumentTag
from retrieval.points import PAYLOAD_VERSION, point_id
from tenancy.access import Access, document_tokens
from tenancy.errors import NotFound
from tenancy.scope import Scope


@dataclass(frozen=True)
class DocumentQuery:
    """Listing filters and pagination (newest first)."""

    status: DocumentStatus | None = None
    tag: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class NewDocument:
    """What an accepted upload knows of a document before it is indexed."""

    filename: str
    media_type: str
    sha256: str
    size_bytes: int
    path: str | None = None
    external_id: str | None = None
    tags: tuple[str, ...] = ()
    source_id: uuid.UUID | None = None
    # Who may read it; when not `access_set`, a new version keeps the previous one's access
    # and a first version is tenant-wide.
    access: Access | None = None
    access_set: bool = False


@dataclass(frozen=True)
class Usage:
    """A tenant's live documents (superseded versions excluded), their bytes and chunks."""

    documents: int
    bytes: int
    chunks: int


class Passage(Protocol):
    """A chunk of a document's canonical text, as chunking made it."""

    @property
    def ordinal(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def char_start(self) -> int: ...
    @property
    def char_end(self) -> int: ...
    @property
    def page_start(self) -> int | None: ...
    @property
    def page_end(self) -> int | None: ...
    @property
    def section(self) -> str | None: ...
    @property
    def sha256(self) -> str: ...


class Indexed(Protocol):
    """A document's canonical text and its passages, once their vectors are in the index."""

    @property
    def text(self) -> str: ...
    @property
    def chunks(self) -> Sequence[Passage]: ...
    @property
    def page_count(self) -> int | None: ...


# -- reading ------------------------------------------------------------------------------


def list_documents(scope: Scope, query: DocumentQuery) -> list[Document]:
    """The tenant's documents, filtered and paginated (those being erased are gone)."""
    stmt = scope.select(Document).where(Document.status != DocumentStatus.ERASING)
    if query.status:
        stmt = stmt.where(Document.status == query.status)
    if query.tag:
        tagged = scope.select(DocumentTag, DocumentTag.document_id).where(
            DocumentTag.tag == query.tag
        )
        stmt = stmt.where(Document.id.in_(tagged))
    stmt = stmt.order_by(Document.created_at.desc(), Document.id)
    return scope.all(stmt.limit(query.limit).offset(query.offset))


def get(scope: Scope, document_id: uuid.UUID) -> Document:
    """One document of the tenant, or NotFound (also while it is being erased)."""
    document = scope.get(Document, document_id, kind="document")
    if document.status == DocumentStatus.ERASING:
        raise NotFound("document")
    return document


def get_text(scope: Scope, document_id: uuid.UUID) -> str:
    """The canonical text citations index into; NotFound until the document is indexed."""
    query = scope.select(Document).where(Document.id == document_id)
    document: Document | None = scope.one_or_none(query.options(undefer(Document.text)))
    if document is None or document.text is None or document.status == DocumentStatus.ERASING:
        raise NotFound("document")
    return document.text


def with_bytes(scope: Scope, sha256: str) -> Document | None:
    """The newest live document of these exact bytes, if the tenant has one."""
    query = scope.select(Document).where(
        Document.sha256 == sha256, Document.status.not_in(_GONE_OR_OLD)
    )
    found: Document | None = scope.first(query.order_by(Document.version.desc()))
    return found


_GONE_OR_OLD = (DocumentStatus.SUPERSEDED, DocumentStatus.ERASING)


def usage(scope: Scope) -> Usage:
    """What the tenant stores now (superseded versions excluded)."""
    query = scope.select(
        Document,
        func.count(),
        func.coalesce(func.sum(Document.size_bytes), 0),
        func.coalesce(func.sum(Document.chunk_count), 0),
    ).where(Document.status != DocumentStatus.SUPERSEDED)
    documents, stored, chunks = scope.rows(query)[0]
    return Usage(int(documents), int(stored), int(chunks))


def rows(scope: Scope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Document]:
    """The tenant's documents among `ids` that still exist, by id."""
    return {doc.id: doc for doc in scope.all(scope.select(Document).where(Document.id.in_(ids)))}


def is_shared(scope: Scope, sha256: str) -> bool:
    """Whether any document of the tenant still has these bytes (its original is kept)."""
    return scope.exists(Document, Document.sha256 == sha256)


# -- changing -----------------------------------------------------------------------------


def create(scope: Scope, new: NewDocument) -> Document:
    """A new `queued` document: version 1, or the next version of its `external_id`."""
    document = Document(
        filename=new.filename,
        path=new.path,
        media_type=new.media_type,
        sha256=new.sha256,
        size_bytes=new.size_bytes,
        external_id=new.external_id,
        source_id=new.source_id,
        status=DocumentStatus.QUEUED,
    )
    document.version = _next_version(scope, document)
    document.tag_rows = [
        scope.own(DocumentTag(tag=tag, position=i)) for i, tag in enumerate(dict.fromkeys(new.tags))
    ]
    tokens = document_tokens(new.access) if new.access_set else _inherited(scope, document)
    document.access_rows = _access_rows(scope, tokens)
    scope.add(document)
    scope.flush()
    return document


def _inherited(scope: Scope, doc: Document) -> tuple[str, ...]:
    """The access of the newest earlier version of `doc`, or tenant-wide."""
    lineage = _lineage(doc)
    if lineage is not None:
        query = scope.select(Document).where(*lineage).order_by(Document.version.desc())
        previous: Document | None = scope.first(query)
        if previous is not None:
            return previous.access_tokens
    return document_tokens(None)


def _access_rows(scope: Scope, tokens: Sequence[str]) -> list[DocumentAccess]:
    return [scope.own(DocumentAccess(token=token)) for token in dict.fromkeys(tokens)]


def set_access(scope: Scope, doc: Document, access: Access | None) -> list[Document]:
    """Give `doc` and every other version of it a new access list; the versions changed."""
    lineage = _lineage(doc)
    versions = scope.all(scope.select(Document).where(*lineage)) if lineage else [doc]
    return set_tokens(scope, versions, access)


def set_tokens(scope: Scope, docs: list[Document], access: Access | None) -> list[Document]:
    """Give each of `docs` the tokens of `access`; returns them."""
    tokens = document_tokens(access)
    for doc in docs:
        doc.access_rows = _access_rows(scope, tokens)
    scope.flush()
    return docs


def _next_version(scope: Scope, doc: Document) -> int:
    lineage = _lineage(doc)
    if lineage is None:
        return 1
    latest = scope.scalar(scope.select(Document, func.max(Document.version)).where(*lineage))
    return int(latest or 0) + 1


def _lineage(doc: Document) -> tuple[ColumnElement[bool], ...] | None:
    """The versions of `doc`: same path in the same source, or the same external id."""
    if doc.source_id is not None:
        return (Document.source_id == doc.source_id, Document.path == doc.path)
    if doc.external_id is not None:
        return (Document.source_id.is_(None), Document.external_id == doc.external_id)
    return None


def ready(scope: Scope, doc: Document, indexed: Indexed) -> list[uuid.UUID]:
    """Turn a document `ready` with its chunk rows and release its lease; returns the ids of
    the older versions this retires (their points are the caller's to remove)."""
    doc.lease_owner = doc.lease_expires_at = None
    if doc.status == DocumentStatus.SUPERSEDED:  # a newer version earlier in the batch won
        return [doc.id]
    scope.delete(Chunk, Chunk.document_id == doc.id)
    spans = [(p.char_start, p.char_end) for p in indexed.chunks]
    utf16 = citations.utf16_offsets(indexed.text, [o for span in spans for o in span])
    for passage in indexed.chunks:
        scope.add(_chunk_row(doc, passage, utf16))
    doc.text, doc.chunk_count, doc.page_count = (
        indexed.text,
        len(indexed.chunks),
        indexed.page_count,
    )
    doc.status, doc.error = DocumentStatus.READY, None
    doc.payload_version = PAYLOAD_VERSION
    return _supersede(scope, doc)


def _chunk_row(doc: Document, passage: Passage, utf16: dict[int, int]) -> Chunk:
    return Chunk(
        id=point_id(doc.id, passage.ordinal),
        document_id=doc.id,
        ordinal=passage.ordinal,
        text=passage.text,
        char_start=passage.char_start,
        char_end=passage.char_end,
        utf16_shift_start=utf16[passage.char_start] - passage.char_start,
        utf16_shift_end=utf16[passage.char_end] - passage.char_end,
        page_start=passage.page_start,
        page_end=passage.page_end,
        section=passage.section,
        sha256=passage.sha256,
    )


def _supersede(scope: Scope, doc: Document) -> list[uuid.UUID]:
    """In the transaction that turns `doc` ready, retire its older versions."""
    lineage = _lineage(doc)
    if lineage is None:
        return []
    query = scope.select(Document).where(
        *lineage, Document.version < doc.version, Document.status != DocumentStatus.SUPERSEDED
    )
    older: list[Document] = scope.all(query)
    for row in older:
        row.status = DocumentStatus.SUPERSEDED
    ids = [row.id for row in older]
    if ids:
        scope.delete(Chunk, Chunk.document_id.in_(ids))
    return ids


def fail(scope: Scope, doc: Document, reason: str) -> None:
    """Turn a document `failed` with a reason an admin can read; its chunks go."""
    scope.delete(Chunk, Chunk.document_id == doc.id)
    doc.status, doc.error, doc.chunk_count = DocumentStatus.FAILED, reason, 0
    doc.lease_owner = doc.lease_expires_at = None


def erase(scope: Scope, doc: Document) -> int:
    """Delete a document's rows (its chunks, tags and itself); returns how many chunks."""
    chunks = scope.delete(Chunk, Chunk.document_id == doc.id)
    scope.remove(doc)  # its tag rows go with it
    scope.flush()
    return chunks
