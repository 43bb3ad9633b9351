"""Pure value types crossing the vector-index boundary, and deterministic point ids."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from retrieval.sparse import SparseVector

Mode = Literal["dense", "sparse", "hybrid"]

# What the payload of a point carries; 1 added `access`. A document whose points were written
# with an older version gets its payload brought up to date (`ingest.backfill`).
PAYLOAD_VERSION = 1

# Point ids are derived, never random, so a re-run of a job overwrites
# instead of duplicating.
POINT_NAMESPACE = uuid.UUID("6f1c2a8e-94a5-4c54-9d44-5e0b8e7f2c11")


def point_id(document_id: uuid.UUID, ordinal: int) -> uuid.UUID:
    """The id of the `ordinal`-th chunk of a document: also the chunk's id."""
    return uuid.uuid5(POINT_NAMESPACE, f"{document_id}:{ordinal}")


@dataclass(frozen=True)
class PointPayload:
    """What every point carries; `tenant_id` is checked again on the way out."""

    tenant_id: uuid.UUID
    document_id: uuid.UUID
    version: int
    media_type: str
    created_at: datetime
    tags: tuple[str, ...] = ()
    # The document's access tokens (`tenancy.access`): `*` is tenant-wide.
    access: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class IndexPoint:
    """One chunk's vectors and payload."""

    id: uuid.UUID
    dense: list[float]
    sparse: SparseVector
    payload: PointPayload


@dataclass(frozen=True)
class IndexFilter:
    """Caller filters; the tenant filter is never part of it, the index adds that itself."""

    document_ids: tuple[uuid.UUID, ...] = ()
    tags: tuple[str, ...] = ()
    media_types: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class IndexQuery:
    """A query for one tenant's index."""

    mode: Mode
    dense: list[float]
    sparse: SparseVector
    limit: int
    filter: IndexFilter = field(default_factory=IndexFilter)
    prefetch_limit: int = 50
    rrf_k: int = 60
    # The caller's access tokens, applied like the tenant at every stage; None: unrestricted.
    access: frozenset[str] | None = None


@dataclass(frozen=True)
class IndexHit:
    """A scored point; `tenant_id` comes from the stored payload."""

    id: uuid.UUID
    score: float
    tenant_id: str
    document_id: str
    access: tuple[str, ...] = ()
