"""Request and response bodies of the HTTP API (the OpenAPI schema is generated from these)."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from enclave_client import tools
from enclave_client.models import MAX_INT as MAX_INT
from enclave_client.models import AccessIn, Input, Mode, Output, Role, SearchFilter, Tag
from retrieval.points import IndexFilter
from retrieval.search import SearchRequest
from tenancy import access, keys
from tenancy.access import Identity
from tenancy.errors import InvalidRequest

# Every integer a client sends fits a signed 32-bit column (and SQLite's INTEGER): MAX_INT.

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TenantIn(Input):
    name: Name


class TenantLimits(Input):
    """Per-tenant overrides of the service defaults; null keeps the default."""

    rate_per_second: float | None = Field(None, gt=0, le=10_000)
    rate_burst: int | None = Field(None, ge=1, le=100_000)
    max_documents: int | None = Field(None, ge=1, le=MAX_INT)
    # Bytes outgrow 32 bits: the column is 64-bit, and 2**53 stays exact in every JSON reader.
    max_bytes: int | None = Field(None, ge=1, le=2**53)
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


Principal = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class KeyIn(Input):
    role: Literal["admin", "reader"]
    name: Name
    expires_at: datetime | None = None
    user: Principal | None = Field(
        None, description="A reader key bound to this end user: it reads what they may read."
    )
    groups: list[Principal] = Field(
        default_factory=list, max_length=200, description="The bound user's groups."
    )
    delegate: bool = Field(
        False,
        description="A reader key serving many end users: each request names one with a "
        "signed `Enclave-Act-As` assertion (see PUT /v1/act-as/jwks).",
    )

    def spec(self) -> keys.KeySpec:
        """The domain's key specification (identity names checked there)."""
        if self.groups and self.user is None:
            raise InvalidRequest("groups belong to a user: give `user` with them")
        identity = None
        if self.user is not None:
            (user,) = access.names([self.user], "user")
            identity = Identity(user, access.names(self.groups, "groups"))
        return keys.KeySpec(
            role=keys.tenant_role(self.role),
            name=self.name,
            expires_at=self.expires_at,
            identity=identity,
            delegate=self.delegate,
        )


class OperatorKeyIn(Input):
    name: Name


class KeyOut(Output):
    id: uuid.UUID
    role: Role
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    user: str | None = None
    groups: list[str] = Field(default_factory=list)
    delegate: bool = False


class KeyIssued(KeyOut):
    key: str = Field(description="The key in clear: shown this once, never again.")


class FileMetadata(Input):
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class UploadMetadata(Input):
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    files: list[FileMetadata] | None = Field(None, max_length=1000)
    access: AccessIn | None = Field(
        None, description="Who may read the files besides admins; omit or null: everyone."
    )


class DocumentPatch(Input):
    access: AccessIn | None = Field(
        description="The new access list (null: everyone in the tenant); it applies to every "
        "version and to the next search."
    )


class SourcePatch(Input):
    access: AccessIn | None = Field(
        description="The source's access list (null: tenant-wide) for all its documents."
    )


class JwksIn(Input):
    keys: list[dict[str, Any]] = Field(
        min_length=1, max_length=20, description="Public JWKs (RS256, ES256 or EdDSA)."
    )


class JwksOut(BaseModel):
    keys: list[dict[str, Any]]


def domain_access(given: AccessIn | None) -> access.Access | None:
    """The domain's access list from the wire (names checked there)."""
    if given is None:
        return None
    return access.Access(access.names(given.users, "users"), access.names(given.groups, "groups"))


class SearchIn(Input):
    """A search of the caller's tenant, trimmed to what the caller may read."""

    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(description="What to find, in natural language.", examples=["parental leave"])
    top_k: int = Field(5, ge=1, le=50, description="How many passages at most.", examples=[5])
    mode: Mode = Field(
        "hybrid",
        description="`hybrid` (dense and BM25 fused by rank), `dense` (embeddings) or "
        "`sparse` (BM25 keywords).",
        examples=["hybrid"],
    )
    filter: SearchFilter = Field(
        default_factory=SearchFilter, description="Conditions every hit must meet."
    )
    rerank: bool = Field(
        False,
        description="Re-rank the candidates with a cross-encoder, when the server has one "
        "(else 422 `rerank_unavailable`).",
        examples=[False],
    )


def search_request(body: SearchIn | tools.SearchArgs) -> SearchRequest:
    """The domain's search request from the HTTP body or the MCP tool's arguments."""
    flt = body.filter
    return SearchRequest(
        query=body.query,
        top_k=body.top_k,
        mode=body.mode,
        rerank=body.rerank if isinstance(body, SearchIn) else False,
        filter=IndexFilter(
            document_ids=tuple(flt.document_ids),
            tags=tuple(flt.tags),
            media_types=tuple(flt.media_types),
            created_after=flt.created_after,
            created_before=flt.created_before,
        ),
    )


class AuditEventOut(Output):
    id: uuid.UUID
    seq: int
    at: datetime
    key_id: uuid.UUID | None
    role: Role | None
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
    checkpoints: int = Field(0, description="Signed checkpoints found outside the database.")
    anchored_seq: int | None = Field(None, description="The chain is proven up to this seq.")


class Health(BaseModel):
    status: Literal["ok", "ready", "not_ready"]
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
