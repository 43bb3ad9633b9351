"""The wire models of Enclave's data plane: what a client sends and what comes back.

The server renders its answers with these same models (and its OpenAPI schema comes from
them), so a client and the server cannot disagree on a field.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Mode = Literal["hybrid", "dense", "sparse"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class Input(BaseModel):
    """Inputs reject unknown fields: a typo must not silently widen a query."""

    model_config = ConfigDict(extra="forbid")


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
