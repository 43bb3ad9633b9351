"""Request and response bodies of the HTTP API (the OpenAPI schema is generated from these)."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Every integer a client sends fits a signed 32-bit column (and SQLite's INTEGER).
MAX_INT = 2**31 - 1

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class Input(BaseModel):
    """Inputs reject unknown fields: a typo must not silently widen a query."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """Outputs are built from ORM rows or dataclasses."""

    model_config = ConfigDict(from_attributes=True)


class TenantIn(Input):
    name: Name


class TenantLimits(Input):
    """Per-tenant overrides of the service defaults; null keeps the default."""

    rate_per_second: float | None = Field(None, gt=0, le=10_000)
    rate_burst: int | None = Field(None, ge=1, le=100_000)
    max_documents: int | None = Field(None, ge=1, le=MAX_INT)
    max_bytes: int | None = Field(None, ge=1, le=MAX_INT)
    max_chunks: int | None = Field(None, ge=1, le=MAX_INT)


class TenantOut(Output):
    id: uuid.UUID
    name: str
    created_at: datetime
    limits: TenantLimits

    @classmethod
    def of(cls, tenant: Any) -> "TenantOut":
        """Build from a tenant row (its limit columns become `limits`)."""
        limits = TenantLimits.model_validate(tenant, from_attributes=True)
        return cls(id=tenant.id, name=tenant.name, created_at=tenant.created_at, limits=limits)


class KeyIn(Input):
    role: Literal["admin", "reader"]
    name: Name
    expires_at: datetime | None = None


class KeyOut(Output):
    id: uuid.UUID
    role: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyIssued(KeyOut):
    key: str = Field(description="The key in clear: shown this once, never again.")


class DocumentOut(Output):
    id: uuid.UUID
    filename: str
    path: str | None
    media_type: str
    sha256: str
    size_bytes: int
    version: int
    external_id: str | None
    status: str
    chunk_count: int
    page_count: int | None
    tags: list[str]
    error: str | None
    created_at: datetime


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    next_offset: int | None


class UploadMetadata(Input):
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class UploadedDocument(BaseModel):
    id: uuid.UUID
    filename: str
    status: str
    duplicate: bool


class UploadOut(BaseModel):
    job_id: uuid.UUID
    documents: list[UploadedDocument]


class Progress(BaseModel):
    total: int
    done: int
    failed: int


class JobDocument(BaseModel):
    id: uuid.UUID
    filename: str
    status: str
    error: str | None


class JobOut(BaseModel):
    id: uuid.UUID
    status: str
    progress: Progress
    documents: list[JobDocument]
    created_at: datetime


class Receipt(BaseModel):
    erased: bool = True
    documents: int
    chunks: int
    vectors: int
    blobs: int
    jobs: int
    keys: int
    searches: int
    audit_events: int
    redacted_searches: int = 0


class SearchFilter(Input):
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    media_types: list[Annotated[str, StringConstraints(max_length=128)]] = Field(
        default_factory=list, max_length=20
    )
    created_after: datetime | None = None
    created_before: datetime | None = None


class SearchIn(Input):
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    top_k: int = Field(5, ge=1, le=50)
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    filter: SearchFilter = Field(default_factory=SearchFilter)
    rerank: bool = False


class CitationOut(BaseModel):
    document_id: uuid.UUID
    filename: str
    version: int
    page_start: int | None
    page_end: int | None
    section: str | None
    char_start: int
    char_end: int
    chunk_sha256: str
    document_sha256: str


class SearchHit(BaseModel):
    rank: int
    score: float
    chunk_id: uuid.UUID
    text: str
    citation: CitationOut


class ReplayedHit(BaseModel):
    rank: int
    score: float
    chunk_id: uuid.UUID
    text: str | None = Field(description="None once the cited document was deleted.")
    deleted: bool = False
    citation: CitationOut


class SearchOut(BaseModel):
    search_id: uuid.UUID
    results: list[SearchHit]


class SearchReplay(BaseModel):
    search_id: uuid.UUID
    results: list[ReplayedHit]
    query: str
    mode: str
    top_k: int
    filter: dict[str, Any]
    created_at: datetime


class ChunkOut(BaseModel):
    chunk_id: uuid.UUID
    text: str
    citation: CitationOut


class AuditEventOut(Output):
    id: uuid.UUID
    seq: int
    at: datetime
    key_id: uuid.UUID | None
    role: str | None
    action: str
    targets: list[str]
    outcome: str
    request_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditList(BaseModel):
    events: list[AuditEventOut]
    next_after_seq: int | None


class AuditVerification(BaseModel):
    ok: bool
    events: int
    first_broken_seq: int | None
    reason: str | None


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class BackupIn(Input):
    path: str = Field(
        min_length=1,
        max_length=4096,
        description="A new folder on the server, inside ENCLAVE_BACKUP_DIR (absolute path).",
    )


class BackupCounts(BaseModel):
    tenants: int
    documents: int
    chunks: int
    shards: int
    blobs: int
    bytes: int


class BackupOut(BaseModel):
    path: str
    created_at: datetime
    revision: str | None
    counts: BackupCounts
    seconds: float
