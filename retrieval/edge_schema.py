"""Adapter between Enclave's value types and the qdrant-edge 0.9 API (pinned: it drifts)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from retrieval.points import IndexFilter, IndexHit, IndexPoint, IndexQuery
from tenancy.ids import TenantId

if TYPE_CHECKING:
    from qdrant_edge import NamedVector

DENSE = "dense"
SPARSE = "sparse"
HIT_FIELDS = ["tenant_id", "document_id", "access"]
KEYWORD_FIELDS = ("document_id", "tags", "media_type", "access")
# A filtered sparse search scans every point that passes the filter, instead of walking the
# inverted index, while the filter's estimate is under this many points. Edge's default
# (larger than a restricted reader's few thousand points) made a reader's sparse search ~6x
# and its hybrid search ~1.8x an admin's on 10k points; at 1,000 they cost the same
# (`benchmarks/access.py`).
SPARSE_FULL_SCAN = 1_000
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
# Dense vectors live in 32 MB preallocated mmap chunks. Edge's default (`Cached`) reads the
# whole chunk in when a shard opens: 32 MB resident even for a tenant of 100 points, and a
# slower open. `Cold` maps it unread: only the pages a search touches become resident.
VECTOR_MEMORY = qe.Memory.Cold


def threshold_kb(points: int, dimension: int) -> int:
    """Edge sizes its indexing thresholds in KB of dense float32 vectors, not in points."""
    return max(1, points * dimension * 4 // 1024)


def shard_config(*, dimension: int, max_search_threads: int, hnsw_threshold: int) -> qe.EdgeConfig:
    """One tenant's shard: dense cosine + sparse IDF, WAL on, HNSW past `hnsw_threshold`."""
    kb = threshold_kb(hnsw_threshold, dimension)
    return qe.EdgeConfig(
        vectors={
            DENSE: qe.EdgeVectorParams(
                size=dimension, distance=qe.Distance.Cosine, memory=VECTOR_MEMORY
            )
        },
        sparse_vectors={
            SPARSE: qe.EdgeSparseVectorParams(
                modifier=qe.Modifier.Idf, full_scan_threshold=SPARSE_FULL_SCAN
            )
        },
        hnsw_config=qe.HnswIndexConfig(
            m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=kb
        ),
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=kb),
        max_search_threads=max_search_threads,
        wal_enabled=True,
    )


def tenant_index_op() -> qe.UpdateOperation:
    """The keyword index on `tenant_id` as tenant key: every query filters on it."""
    return qe.UpdateOperation.create_field_index("tenant_id", qe.KeywordIndexParams(is_tenant=True))


def field_index_ops() -> list[qe.UpdateOperation]:
    """Keyword indexes on the other filter fields, datetime on created_at.

    Each payload index adds ~5 ms to opening a shard (a 100-point shard opened in 42 ms with
    all five, 14 ms with the tenant index alone), while below ~1,000 points a filter on an
    unindexed field scans in a few ms; so these come when a shard grows past that size.
    """
    create = qe.UpdateOperation.create_field_index
    ops = [create(name, qe.PayloadSchemaType.Keyword) for name in KEYWORD_FIELDS]
    ops.append(create("created_at", qe.PayloadSchemaType.Datetime))
    return ops


def indexed_fields() -> frozenset[str]:
    """Every field that a fully indexed shard has a payload index on."""
    return frozenset(("tenant_id", *KEYWORD_FIELDS, "created_at"))


def access_op(flt: qe.Filter, tokens: Sequence[str]) -> qe.UpdateOperation:
    """New access tokens on every point under `flt`."""
    return qe.UpdateOperation.set_payload_by_filter(flt, {"access": list(tokens)})


def upsert_op(points: Sequence[IndexPoint]) -> qe.UpdateOperation:
    """One upsert of all points (same ids overwrite)."""
    return qe.UpdateOperation.upsert_points([_point(point) for point in points])


def _point(point: IndexPoint) -> qe.Point:
    """An Edge point; an empty sparse vector is omitted, as in `QdrantIndex`."""
    vector: dict[str, NamedVector] = {DENSE: list(point.dense)}
    if point.sparse.indices:
        vector[SPARSE] = qe.SparseVector(list(point.sparse.indices), list(point.sparse.values))
    return qe.Point(id=str(point.id), vector=vector, payload=_payload(point))


def _payload(point: IndexPoint) -> dict[str, Any]:
    """The stored payload: same fields and encodings as `QdrantIndex`."""
    payload = point.payload
    return {
        "tenant_id": str(payload.tenant_id),
        "document_id": str(payload.document_id),
        "version": payload.version,
        "media_type": payload.media_type,
        "created_at": payload.created_at.isoformat(),
        "tags": list(payload.tags),
        "access": list(payload.access),
    }


def build_filter(
    tenant_id: TenantId, flt: IndexFilter, access: frozenset[str] | None = None
) -> qe.Filter:
    """The tenant condition first, the caller's access next, then its filters; all required."""
    must: list[qe.FieldCondition] = [_match("tenant_id", [str(tenant_id)])]
    if access is not None:
        must.append(_match("access", sorted(access)))
    if flt.document_ids:
        must.append(_match("document_id", [str(d) for d in flt.document_ids]))
    if flt.tags:
        must.append(_match("tags", list(flt.tags)))
    if flt.media_types:
        must.append(_match("media_type", list(flt.media_types)))
    if flt.created_after or flt.created_before:
        after = flt.created_after.isoformat() if flt.created_after else None
        before = flt.created_before.isoformat() if flt.created_before else None
        span = qe.RangeDateTime(gte=after, lt=before)
        must.append(qe.FieldCondition(key="created_at", range=span))
    return qe.Filter(must=list(must))


def _match(key: str, values: list[str]) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchAny(values))


def _sparse(query: IndexQuery) -> qe.Query:
    vector = qe.SparseVector(list(query.sparse.indices), list(query.sparse.values))
    return qe.Query.Nearest(vector, using=SPARSE)


def query_request(query: IndexQuery, flt: qe.Filter) -> qe.QueryRequest:
    """Dense, sparse, or RRF(k) over a dense and a sparse prefetch; `flt` at every stage."""
    common: dict[str, Any] = {"limit": query.limit, "filter": flt, "with_payload": HIT_FIELDS}
    if query.mode == "dense":
        return qe.QueryRequest(query=qe.Query.Nearest(list(query.dense), using=DENSE), **common)
    if query.mode == "sparse":
        return qe.QueryRequest(query=_sparse(query), **common)
    dense = qe.Query.Nearest(list(query.dense), using=DENSE)
    prefetches = [
        qe.Prefetch(limit=query.prefetch_limit, query=dense, filter=flt),
        qe.Prefetch(limit=query.prefetch_limit, query=_sparse(query), filter=flt),
    ]
    # Edge has no default k for RRF: it must be given explicitly. The 0.9 stub types
    # `query` as `Fusion`, but the runtime takes the nested `Fusion.Rrf` instance.
    fusion: Any = qe.Fusion.Rrf(k=query.rrf_k)
    return qe.QueryRequest(query=fusion, prefetches=prefetches, **common)


def count_request(flt: qe.Filter) -> qe.CountRequest:
    """An exact count under `flt`."""
    return qe.CountRequest(exact=True, filter=flt)


def to_hit(point: qe.ScoredPoint) -> IndexHit:
    """Our hit from Edge's scored point (Edge returns UUID ids as `uuid.UUID`)."""
    payload = point.payload or {}
    return IndexHit(
        id=uuid.UUID(str(point.id)),
        score=float(point.score),
        tenant_id=str(payload.get("tenant_id", "")),
        document_id=str(payload.get("document_id", "")),
        access=tuple(payload.get("access") or ()),
    )
