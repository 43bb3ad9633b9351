"""The vector-index protocol: every method takes the tenant and scopes itself to it."""

import uuid
from collections.abc import Sequence
from typing import Protocol

from retrieval.points import IndexHit, IndexPoint, IndexQuery
from tenancy.ids import TenantId


class VectorIndex(Protocol):
    """Per-tenant dense + sparse vector storage; implementations add the tenant filter."""

    def upsert(self, tenant_id: TenantId, points: Sequence[IndexPoint]) -> None:
        """Insert or overwrite points (ids are deterministic)."""
        ...

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        """The best points of this tenant only (and of `query.access`, when restricted)."""
        ...

    def set_access(self, tenant_id: TenantId, document_id: uuid.UUID, tokens: Sequence[str]) -> int:
        """Give every point of one document these access tokens; returns how many points."""
        ...

    def delete_document(self, tenant_id: TenantId, document_id: uuid.UUID) -> int:
        """Remove every point of one document; returns how many there were."""
        ...

    def delete_tenant(self, tenant_id: TenantId) -> int:
        """Remove the tenant's whole collection; returns how many points it held."""
        ...

    def count(self, tenant_id: TenantId, document_id: uuid.UUID | None = None) -> int:
        """Points of the tenant (or of one of its documents)."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
