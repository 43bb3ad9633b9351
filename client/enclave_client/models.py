"""The wire models of Enclave's data plane: what a client sends and what comes back.

The server renders its answers with these same models (and its OpenAPI schema comes from
them), so a client and the server cannot disagree on a field.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Mode = Literal["hybrid", "dense", "sparse"]
DocumentStatus = Literal["queued", "processing", "ready", "failed", "superseded", "erasing"]
JobStatus = Literal["queued", "running", "done", "failed"]
Role = Literal["operator", "admin", "reader"]
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


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable snake_case code to branch on.", examples=["not_found"])
    message: str = Field(description="What went wrong, for a human.", examples=["not found"])


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


class SearchFilter(Input):
    """Narrows a search; every given condition must hold (an empty list is no condition)."""

    document_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=100,
        description="Only these documents.",
        examples=[["0b6f8a52-3c4d-4e1f-9a7b-2c5d8e9f0a1b"]],
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=50,
        description="Documents with any of these tags.",
        examples=[["hr", "policy"]],
    )
    media_types: list[Annotated[str, StringConstraints(max_length=128)]] = Field(
        default_factory=list,
        max_length=20,
        description="Documents of these detected media types.",
        examples=[["application/pdf"]],
    )
    created_after: datetime | None = Field(
        None, description="Uploaded at or after.", examples=["2026-01-01T00:00:00Z"]
    )
    created_before: datetime | None = Field(
        None, description="Uploaded before.", examples=["2027-01-01T00:00:00Z"]
    )


class CitationOut(BaseModel):
    """Where a hit's text is, exactly: `GET /v1/documents/{document_id}/text` sliced at
    `[char_start:char_end]` (code points) equals the hit's text."""

    document_id: uuid.UUID = Field(
        description="The cited document (this version).",
        examples=["0b6f8a52-3c4d-4e1f-9a7b-2c5d8e9f0a1b"],
    )
    filename: str = Field(description="The file's name at upload.", examples=["handbook.pdf"])
    version: int = Field(description="The document's version, from 1.", examples=[1])
    page_start: int | None = Field(
        description="First page (slide, sheet), when the format has pages.", examples=[3]
    )
    page_end: int | None = Field(description="Last page, when the format has pages.", examples=[3])
    section: str | None = Field(
        description="The nearest title above the text, if any.", examples=["Parental leave"]
    )
    char_start: int = Field(
        description="Start in the document's text, in Unicode code points (Python str "
        "indices), inclusive.",
        examples=[1042],
    )
    char_end: int = Field(
        description="End in the document's text, in Unicode code points, exclusive.",
        examples=[1876],
    )
    utf16_start: int = Field(
        description="The same start in UTF-16 code units (JavaScript string indices).",
        examples=[1042],
    )
    utf16_end: int = Field(
        description="The same end in UTF-16 code units (JavaScript string indices).",
        examples=[1876],
    )
    chunk_sha256: str = Field(
        description="SHA-256 (hex) of the hit's text, UTF-8.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    document_sha256: str = Field(
        description="SHA-256 (hex) of the original file's bytes.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )


class SearchHit(BaseModel):
    rank: int = Field(description="1 for the best hit.", examples=[1])
    score: float = Field(
        description="The ranking score of the mode (fused rank score for hybrid); compare "
        "within one search only.",
        examples=[0.83],
    )
    chunk_id: uuid.UUID = Field(
        description="The passage (GET /v1/chunks/{chunk_id}).",
        examples=["5d2c6b1e-8f3a-4c7d-9e0f-1a2b3c4d5e6f"],
    )
    text: str = Field(
        description="The passage, exactly as cited.",
        examples=["Parental leave is sixteen weeks at full pay."],
    )
    citation: CitationOut


class ReplayedCitation(CitationOut):
    utf16_start: int | None = Field(  # type: ignore[assignment]
        None, description="UTF-16 start; null in searches recorded before version 0.2."
    )
    utf16_end: int | None = Field(  # type: ignore[assignment]
        None, description="UTF-16 end; null in searches recorded before version 0.2."
    )


class ReplayedHit(BaseModel):
    rank: int
    score: float
    chunk_id: uuid.UUID
    text: str | None = Field(
        description="None once the cited document was deleted, or when it is withheld."
    )
    deleted: bool = False
    withheld: bool = Field(False, description="The caller may no longer read this document.")
    citation: ReplayedCitation


class SearchOut(BaseModel):
    search_id: uuid.UUID = Field(
        description="This search's record (GET /v1/searches/{search_id} and its receipt).",
        examples=["7e1d2c3b-4a5f-4e6d-8c7b-9a0f1e2d3c4b"],
    )
    results: list[SearchHit] = Field(description="Best first; at most top_k.")
    receipt: str | None = Field(
        None,
        description="A compact JWS (EdDSA) over what this search showed: verify it offline "
        "with the keys at /.well-known/jwks.json (`enclave receipt verify`).",
        examples=["eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJzZWFyY2hfaWQiOiIuLi4ifQ.c2ln"],
    )


class ReceiptOut(BaseModel):
    search_id: uuid.UUID
    receipt: str


class SearchReplay(BaseModel):
    search_id: uuid.UUID
    results: list[ReplayedHit]
    query: str
    mode: Mode
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
    status: DocumentStatus
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
    id: uuid.UUID = Field(
        description="The document (GET /v1/documents/{id}).",
        examples=["0b6f8a52-3c4d-4e1f-9a7b-2c5d8e9f0a1b"],
    )
    filename: str = Field(
        description="The file's name (its path in the upload).", examples=["handbook.pdf"]
    )
    status: DocumentStatus = Field(
        description="`queued` until its job indexes it.", examples=["queued"]
    )
    duplicate: bool = Field(
        description="The same bytes were already in the tenant: no new copy, no new job work.",
        examples=[False],
    )


class UploadOut(BaseModel):
    job_id: uuid.UUID = Field(
        description="Follow the indexing with GET /v1/jobs/{job_id} (`?wait=` long-polls).",
        examples=["3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d"],
    )
    documents: list[UploadedDocument] = Field(description="One per file, in upload order.")


class Progress(BaseModel):
    total: int
    done: int
    failed: int


class JobDocument(BaseModel):
    id: uuid.UUID
    filename: str
    status: DocumentStatus
    error: str | None = Field(description="Why it failed, for a failed document.")


class JobOut(BaseModel):
    id: uuid.UUID
    status: JobStatus = Field(
        description="`done` once every document settled (some may have failed); `failed` "
        "when all failed."
    )
    progress: Progress
    documents: list[JobDocument]
    created_at: datetime


class JobList(BaseModel):
    jobs: list[JobOut] = Field(description="Newest first.")
    next_offset: int | None = Field(description="The offset of the next page; None: no more.")


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
    document_status: DocumentStatus | None = Field(
        None, description="Of the version this run uploaded."
    )
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
