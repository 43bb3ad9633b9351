"""The wire models of Enclave's data plane: what a client sends and what comes back.

The server renders its answers with these same models (and its OpenAPI schema comes from
them), so a client and the server cannot disagree on a field.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Mode = Literal["hybrid", "dense", "sparse"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


# Control characters no text of ours needs (tab, newline and carriage return are fine):
# PostgreSQL cannot store NUL at all, and the others only hide what a text says.
CONTROL = frozenset(chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), 127])
MAX_INT = 2**31 - 1


def refuse_controls(value: Any, where: str = "") -> None:
    """Raise ValueError naming the first string (in any depth) with a control character."""
    if isinstance(value, str):
        if not CONTROL.isdisjoint(value):
            raise ValueError(f"{where or 'a text'} contains a NUL or control character")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_controls(key, where)
            refuse_controls(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            refuse_controls(item, f"{where}[{index}]")


class Input(BaseModel):
    """Inputs reject unknown fields (a typo must not silently widen a query) and control
    characters (a NUL cannot even be stored)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        refuse_controls(data)
        return data


class Output(BaseModel):
    """Outputs may be built from any object with the fields as attributes."""

    model_config = ConfigDict(from_attributes=True)


class SearchFilter(Input):
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    media_types: list[Annotated[str, StringConstraints(max_length=128)]] = Field(
        default_factory=list, max_length=20
    )
    created_after: datetime | None = None
    created_before: datetime | None = None


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
    text: str | None = Field(
        description="None once the cited document was deleted, or when it is withheld."
    )
    deleted: bool = False
    withheld: bool = Field(False, description="The caller may no longer read this document.")
    citation: CitationOut


class SearchOut(BaseModel):
    search_id: uuid.UUID
    results: list[SearchHit]
    receipt: str | None = Field(
        None,
        description="A compact JWS (EdDSA) over what this search showed: verify it offline "
        "with the keys at /.well-known/jwks.json (`enclave receipt verify`).",
    )


class ReceiptOut(BaseModel):
    search_id: uuid.UUID
    receipt: str


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


class AccessOut(Output):
    users: list[str] = Field(description="End users who may read it.")
    groups: list[str] = Field(description="Groups whose members may read it.")


class AccessIn(Input):
    users: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=200
    )
    groups: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=200
    )


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
    access: AccessOut | None = Field(
        None, description="Who may read it besides admins; null: everyone in the tenant."
    )
    error: str | None
    created_at: datetime


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    next_offset: int | None


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


class ManifestEntry(Input):
    path: str = Field(
        min_length=1,
        max_length=1024,
        description="POSIX path inside the source, '/'-separated, relative (NFC-normalised).",
    )
    sha256: str = Field(min_length=64, max_length=64, description="SHA-256 of the bytes, hex.")
    size: int = Field(ge=0, description="Size of the file in bytes.")


class SyncRunIn(Input):
    manifest: list[ManifestEntry] = Field(
        description="Every file of the source now; paths absent from it left the source."
    )
    prune: bool = Field(True, description="Erase the documents whose paths left the source.")
    dry_run: bool = Field(False, description="Only answer the plan: nothing is recorded.")
    access: AccessIn | None = Field(
        None,
        description="Set the source's access list (its documents and new ones); omit to keep "
        "it, null for tenant-wide.",
    )


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


class SyncEntryOut(Output):
    path: str
    action: Literal["add", "update", "unchanged", "rename", "erase", "keep"]
    state: Literal["needed", "uploaded", "pending", "done", "failed"]
    document_id: uuid.UUID | None = None
    document_status: str | None = Field(None, description="Of the version this run uploaded.")
    document_error: str | None = Field(None, description="Why that version failed to index.")
    renamed_from: str | None = None
    error: str | None = None
    receipt: Receipt | None = Field(None, description="What erasing the path removed.")


class SyncRunOut(BaseModel):
    id: uuid.UUID | None = Field(description="None for a dry run: nothing was recorded.")
    source: str
    phase: Literal["plan", "open", "indexing", "done", "abandoned"]
    prune: bool
    resumed: bool = False
    manifest_sha256: str | None = None
    key_id: uuid.UUID | None = None
    created_at: datetime | None = None
    committed_at: datetime | None = None
    counts: dict[str, int]
    needed: list[str] = Field(default_factory=list, description="Paths to upload next.")
    entries: list[SyncEntryOut] = Field(default_factory=list)
    next_offset: int | None = None


class SyncFilesOut(BaseModel):
    entries: list[SyncEntryOut]
    needed: int = Field(description="Files the run still waits for.")


class SourceOut(BaseModel):
    name: str
    created_at: datetime
    access: AccessOut | None = None
    documents: dict[str, int] = Field(description="Paths by the status of their newest version.")
    last_run: SyncRunOut | None = None


class SourceList(BaseModel):
    sources: list[SourceOut]
