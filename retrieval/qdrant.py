"""`VectorIndex` over qdrant-client: a Qdrant server/cluster, or local mode (`path`)."""

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qdrant_client import QdrantClient, models

from retrieval.points import IndexFilter, IndexHit, IndexPoint, IndexQuery
from tenancy.ids import TenantId

DENSE = "dense"
SPARSE = "sparse"


def collection_name(tenant_id: TenantId) -> str:
    """Collection of a tenant: named from its opaque id, never from user text."""
    return f"enclave_{tenant_id.hex}"


class QdrantIndex:
    """Collection per tenant; every query and prefetch also filters on `tenant_id`."""

    def __init__(self, client: QdrantClient, *, dimension: int, local: bool) -> None:
        self._client = client
        self._dimension = dimension
        self._local = local
        self._known: set[str] = set()
        # Local mode is plain Python over one SQLite file: one caller at a time.
        self._lock = threading.RLock() if local else None

    @classmethod
    def local(cls, path: str, *, dimension: int) -> "QdrantIndex":
        """Embedded local mode in a directory (one process per directory)."""
        return cls(QdrantClient(path=path), dimension=dimension, local=True)

    @classmethod
    def remote(cls, url: str, *, api_key: str | None, dimension: int) -> "QdrantIndex":
        """A Qdrant server or cluster."""
        client = QdrantClient(url=url, api_key=api_key, timeout=30)
        return cls(client, dimension=dimension, local=False)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield

    def upsert(self, tenant_id: TenantId, points: Sequence[IndexPoint]) -> None:
        """Insert or overwrite points in the tenant's collection."""
        if not points:
            return
        with self._guard():
            name = self._ensure(tenant_id)
            structs = [_point_struct(p) for p in points]
            self._client.upsert(name, points=structs, wait=True)

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        """Dense, sparse or hybrid (RRF) query, tenant-filtered at every stage."""
        flt = build_filter(tenant_id, query.filter, query.access)
        with self._guard():
            name = collection_name(tenant_id)
            if not self._exists(name):
                return []
            response = self._client.query_points(
                name, **_query_args(query, flt), limit=query.limit, with_payload=True
            )
        return [_hit(point) for point in response.points]

    def set_access(self, tenant_id: TenantId, document_id: uuid.UUID, tokens: Sequence[str]) -> int:
        """New access tokens on one document's points."""
        payload = {"access": list(tokens)}
        return self._on_document(
            tenant_id,
            document_id,
            lambda name, points: self._client.set_payload(name, payload, points=points, wait=True),
        )

    def delete_document(self, tenant_id: TenantId, document_id: uuid.UUID) -> int:
        """Remove one document's points."""
        return self._on_document(
            tenant_id,
            document_id,
            lambda name, points: self._client.delete(name, points_selector=points, wait=True),
        )

    def _on_document(
        self,
        tenant_id: TenantId,
        document_id: uuid.UUID,
        change: Callable[[str, models.FilterSelector], object],
    ) -> int:
        """Apply `change` to one document's points; returns how many there were."""
        flt = build_filter(tenant_id, IndexFilter(document_ids=(document_id,)))
        with self._guard():
            name = collection_name(tenant_id)
            if not self._exists(name):
                return 0
            count = self._client.count(name, count_filter=flt, exact=True).count
            change(name, models.FilterSelector(filter=flt))
        return count

    def delete_tenant(self, tenant_id: TenantId) -> int:
        """Drop the tenant's collection."""
        with self._guard():
            name = collection_name(tenant_id)
            if not self._exists(name):
                return 0
            count = self._client.count(name, exact=True).count
            self._client.delete_collection(name)
            self._known.discard(name)
        return count

    def count(self, tenant_id: TenantId, document_id: uuid.UUID | None = None) -> int:
        """Points of the tenant, optionally of one document."""
        ids = (document_id,) if document_id else ()
        flt = build_filter(tenant_id, IndexFilter(document_ids=ids))
        with self._guard():
            name = collection_name(tenant_id)
            if not self._exists(name):
                return 0
            return self._client.count(name, count_filter=flt, exact=True).count

    def close(self) -> None:
        """Close the client (releases local mode's file lock)."""
        with self._guard():
            self._client.close()

    def _exists(self, name: str) -> bool:
        if name in self._known:
            return True
        if self._client.collection_exists(name):
            self._known.add(name)
            return True
        return False

    def _ensure(self, tenant_id: TenantId) -> str:
        name = collection_name(tenant_id)
        if self._exists(name):
            return name
        self._client.create_collection(
            name,
            vectors_config={
                DENSE: models.VectorParams(size=self._dimension, distance=models.Distance.COSINE)
            },
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        if not self._local:
            self._create_payload_indexes(name)
        self._known.add(name)
        return name

    def _create_payload_indexes(self, name: str) -> None:
        tenant_index = models.KeywordIndexParams(
            type=models.KeywordIndexType.KEYWORD, is_tenant=True
        )
        self._client.create_payload_index(name, "tenant_id", field_schema=tenant_index)
        for field in ("document_id", "tags", "media_type", "access"):
            self._client.create_payload_index(
                name, field, field_schema=models.PayloadSchemaType.KEYWORD
            )
        self._client.create_payload_index(
            name, "created_at", field_schema=models.PayloadSchemaType.DATETIME
        )


def build_filter(
    tenant_id: TenantId, flt: IndexFilter, access: frozenset[str] | None = None
) -> models.Filter:
    """The tenant condition first, the caller's access next, then its filters; all required."""
    must: list[models.Condition] = [_match("tenant_id", [str(tenant_id)])]
    if access is not None:
        must.append(_match("access", sorted(access)))
    if flt.document_ids:
        must.append(_match("document_id", [str(d) for d in flt.document_ids]))
    if flt.tags:
        must.append(_match("tags", list(flt.tags)))
    if flt.media_types:
        must.append(_match("media_type", list(flt.media_types)))
    if flt.created_after or flt.created_before:
        span = models.DatetimeRange(gte=flt.created_after, lt=flt.created_before)
        must.append(models.FieldCondition(key="created_at", range=span))
    return models.Filter(must=must)


def _match(key: str, values: list[str]) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchAny(any=values))


def _sparse(query: IndexQuery) -> models.SparseVector:
    return models.SparseVector(indices=list(query.sparse.indices), values=list(query.sparse.values))


def _query_args(query: IndexQuery, flt: models.Filter) -> dict[str, Any]:
    if query.mode == "dense":
        return {"query": query.dense, "using": DENSE, "query_filter": flt}
    if query.mode == "sparse":
        return {"query": _sparse(query), "using": SPARSE, "query_filter": flt}
    prefetch = [
        models.Prefetch(query=query.dense, using=DENSE, filter=flt, limit=query.prefetch_limit),
        models.Prefetch(query=_sparse(query), using=SPARSE, filter=flt, limit=query.prefetch_limit),
    ]
    fusion = models.RrfQuery(rrf=models.Rrf(k=query.rrf_k))
    return {"prefetch": prefetch, "query": fusion, "query_filter": flt}


def _point_struct(point: IndexPoint) -> models.PointStruct:
    payload = point.payload
    vector: dict[str, Any] = {DENSE: point.dense}
    if point.sparse.indices:
        vector[SPARSE] = models.SparseVector(
            indices=list(point.sparse.indices), values=list(point.sparse.values)
        )
    return models.PointStruct(
        id=str(point.id),
        vector=vector,
        payload={
            "tenant_id": str(payload.tenant_id),
            "document_id": str(payload.document_id),
            "version": payload.version,
            "media_type": payload.media_type,
            "created_at": payload.created_at.isoformat(),
            "tags": list(payload.tags),
            "access": list(payload.access),
        },
    )


def _hit(point: models.ScoredPoint) -> IndexHit:
    payload = point.payload or {}
    return IndexHit(
        id=uuid.UUID(str(point.id)),
        score=float(point.score),
        tenant_id=str(payload.get("tenant_id", "")),
        document_id=str(payload.get("document_id", "")),
        access=tuple(payload.get("access") or ()),
    )
