"""Search a tenant's index and return cited chunks; every search is recorded for replay."""

import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from opentelemetry import trace
from sqlalchemy import bindparam, select

from retrieval import spans, sparse
from retrieval.citations import (
    CHUNK_CITATION_COLUMNS,
    DOCUMENT_CITATION_COLUMNS,
    Citation,
    cite_row,
)
from retrieval.embed import Embedder
from retrieval.errors import RerankUnavailable
from retrieval.index import VectorIndex
from retrieval.models import Chunk, Document, DocumentStatus, SearchRecord
from retrieval.points import IndexFilter, IndexHit, IndexQuery, Mode
from retrieval.rerank import Reranker
from tenancy.access import may_read
from tenancy.db import utcnow
from tenancy.errors import IsolationViolation
from tenancy.ids import new_id
from tenancy.scope import Scope, prepared

log = logging.getLogger("enclave.security")
tracer = trace.get_tracer("enclave.retrieval")

# Fetch a few more than asked so that dropped duplicates do not shorten the answer.
OVERFETCH = 2


@dataclass(frozen=True)
class SearchRequest:
    """A validated search."""

    query: str
    top_k: int = 5
    mode: Mode = "hybrid"
    filter: IndexFilter = field(default_factory=IndexFilter)
    rerank: bool = False


@dataclass(frozen=True)
class Hit:
    """One result."""

    rank: int
    score: float
    chunk_id: uuid.UUID
    text: str
    citation: Citation

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form, as stored for replay and returned by the API."""
        return {
            "rank": self.rank,
            "score": self.score,
            "chunk_id": str(self.chunk_id),
            "text": self.text,
            "citation": self.citation.to_json(),
        }


@dataclass(frozen=True)
class Retriever:
    """What a search needs besides the tenant scope."""

    index: VectorIndex
    embedder: Embedder
    prefetch_limit: int = 50
    rrf_k: int = 60
    reranker: Reranker | None = None
    rerank_candidates: int = 20


@dataclass(frozen=True)
class Searched:
    """A search as recorded, and what its audit event says of it."""

    record: SearchRecord
    audit: dict[str, Any]


def search(
    scope: Scope,
    retriever: Retriever,
    request: SearchRequest,
    *,
    key_id: uuid.UUID | None,
    identity: str | None = None,
) -> Searched:
    """Run `request` in the scope's tenant: its hits as a search record, not yet stored
    (`keep` stores it, once the caller has its audit event and receipt).

    The index query and the hits' rows only read: they run as the scope's read phase, so
    the writes (the audit event, then the record) come after and alone."""
    with scope.reading():
        hits = find(scope, retriever, request)
    row = record(scope, request, hits, key_id=key_id, identity=identity)
    return Searched(row, audit_details(row))


def find(scope: Scope, retriever: Retriever, request: SearchRequest) -> list[Hit]:
    """The hits of `request` in the scope's tenant, cited; it only reads (see `record`)."""
    with spans.span(tracer, "search", _span_attributes(scope, request)) as span:
        hits = _find(scope, retriever, request)
        span.set_attribute("enclave.search.hits", len(hits))
        return hits


def _span_attributes(scope: Scope, request: SearchRequest) -> dict[str, str | int | bool]:
    """What a trace may say about a search: never the query text."""
    return {
        "enclave.tenant.id": str(scope.tenant_id),
        "enclave.search.mode": request.mode,
        "enclave.search.top_k": request.top_k,
        "enclave.search.rerank": request.rerank,
        "enclave.search.filtered": request.filter != IndexFilter(),
    }


def _find(scope: Scope, retriever: Retriever, request: SearchRequest) -> list[Hit]:
    if request.rerank and retriever.reranker is None:
        raise RerankUnavailable("reranking is not configured on this server")
    depth = _depth(retriever, request)
    query = replace(_index_query(retriever, request, depth), access=scope.access)
    raw = _query_index(scope, retriever, query)
    hits = _resolve(scope, _checked(scope, raw), depth)
    if request.rerank and retriever.reranker is not None:
        hits = _reranked(retriever.reranker, request, hits)
    return hits


def _query_index(scope: Scope, retriever: Retriever, query: IndexQuery) -> list[IndexHit]:
    with spans.span(tracer, "search.index_query", {"enclave.search.limit": query.limit}) as span:
        raw = retriever.index.query(scope.tenant_id, query)
        span.set_attribute("enclave.search.candidates", len(raw))
        # A score that is not a finite number (a degenerate vector) ranks nothing, and JSON
        # cannot carry it to the record, the audit event or the answer: not a hit.
        finite = [hit for hit in raw if math.isfinite(hit.score)]
        # Equal scores (common after rank fusion) come back in an engine-dependent order;
        # the id breaks ties so the same query gives the same answer on every replica.
        return sorted(finite, key=lambda hit: (-hit.score, str(hit.id)))


def _depth(retriever: Retriever, request: SearchRequest) -> int:
    """Hits to resolve: the answer, or the rerank candidates when there are more of those."""
    if request.rerank:
        return max(request.top_k, retriever.rerank_candidates)
    return request.top_k


def _index_query(retriever: Retriever, request: SearchRequest, depth: int) -> IndexQuery:
    needs_dense = request.mode != "sparse"
    with spans.span(tracer, "search.embed", {"enclave.search.dense": needs_dense}):
        return IndexQuery(
            mode=request.mode,
            dense=retriever.embedder.embed_query(request.query) if needs_dense else [],
            sparse=sparse.encode_query(request.query),
            limit=depth * OVERFETCH,
            filter=request.filter,
            prefetch_limit=max(retriever.prefetch_limit, depth * OVERFETCH),
            rrf_k=retriever.rrf_k,
        )


def _reranked(reranker: Reranker, request: SearchRequest, hits: list[Hit]) -> list[Hit]:
    """The top_k of `hits` re-scored by the cross-encoder, best first (ties keep fused order)."""
    with spans.span(tracer, "search.rerank", {"enclave.search.candidates": len(hits)}):
        scores = reranker.rerank(request.query, [h.text for h in hits])
    scored = [i for i in range(len(hits)) if math.isfinite(scores[i])]  # as in _query_index
    order = sorted(scored, key=lambda i: -scores[i])[: request.top_k]
    return [replace(hits[i], rank=rank, score=scores[i]) for rank, i in enumerate(order, 1)]


def _checked(scope: Scope, hits: Sequence[IndexHit]) -> list[IndexHit]:
    """Isolation layers 4 and, inside the tenant, access: a hit of another tenant, or of a
    document the caller may not read, fails the whole request closed."""
    expected = str(scope.tenant_id)
    foreign = [h for h in hits if h.tenant_id != expected]
    if foreign:
        _security_event("cross_tenant_hit", expected, foreign)
    forbidden = [h for h in hits if not may_read(scope.access, h.access)]
    if forbidden:
        _security_event("forbidden_hit", expected, forbidden)
    return list(hits)


def _security_event(kind: str, tenant: str, hits: Sequence[IndexHit]) -> NoReturn:
    log.error("security_event=%s tenant=%s points=%s", kind, tenant, [str(h.id) for h in hits])
    raise IsolationViolation("a result failed the tenant or access check")


def _resolve(scope: Scope, hits: list[IndexHit], top_k: int) -> list[Hit]:
    rows = _ready_chunks(scope, [h.id for h in hits])
    results: list[Hit] = []
    seen: set[str] = set()
    for hit in hits:
        row = rows.get(hit.id)
        if row is None or row["chunk_sha256"] in seen:
            continue  # not ready yet (or being replaced), or a duplicate passage
        seen.add(row["chunk_sha256"])
        results.append(Hit(len(results) + 1, hit.score, row["id"], row["text"], cite_row(row)))
        if len(results) == top_k:
            break
    return results


# Built once: building this statement cost as much as running it. `prepared` filters
# both tables on the caller's tenant and access, bound at each call.
#
# The hits' chunks are found by id first, in a materialized CTE, then joined to their
# documents. Left to itself, PostgreSQL without statistics on these tables (a fresh load
# before autovacuum's ANALYZE, or autovacuum off) started from the tenant's documents and
# scanned the tenant's chunks once per document: ~100 ms per search at 5,000 chunks
# instead of ~1 ms. With the CTE no plan can do that (tests/retrieval/test_resolve_plan.py).
_HIT_CHUNKS = (
    prepared(
        select(Chunk.id, Chunk.text, Chunk.document_id, *CHUNK_CITATION_COLUMNS).where(
            Chunk.id.in_(bindparam("ids", expanding=True))
        )
    )
    .cte("hit_chunks")
    .prefix_with("MATERIALIZED")
)
_READY_CHUNKS = prepared(
    select(
        *(column for column in _HIT_CHUNKS.c if column.name != "document_id"),
        *DOCUMENT_CITATION_COLUMNS,
    )
    .join(Document, Document.id == _HIT_CHUNKS.c.document_id)
    .where(Document.status == DocumentStatus.READY)
)


def _ready_chunks(scope: Scope, ids: list[uuid.UUID]) -> dict[uuid.UUID, Mapping[str, Any]]:
    """The chunks among `ids` whose document is ready, with their citation columns."""
    if not ids:
        return {}
    return {row["id"]: row for row in scope.execute(_READY_CHUNKS, ids=ids)}


def record(
    scope: Scope,
    request: SearchRequest,
    hits: list[Hit],
    *,
    key_id: uuid.UUID | None,
    identity: str | None = None,
) -> SearchRecord:
    """What a search returned, as its record (stamped with the tenant, not yet stored)."""
    row = SearchRecord(
        id=new_id(),
        key_id=key_id,
        query=request.query,
        mode=request.mode,
        top_k=request.top_k,
        filters=_filter_json(request.filter),
        results=[h.to_json() for h in hits],
        created_at=utcnow(),
        identity=identity,
        access=sorted(scope.access) if scope.access is not None else None,
    )
    return scope.own(row)


def keep(scope: Scope, row: SearchRecord) -> SearchRecord:
    """Store a search's record, for replay (`GET /v1/searches/{id}`): one INSERT."""
    return scope.insert(row)


def _filter_json(flt: IndexFilter) -> dict[str, Any]:
    return {
        "document_ids": [str(d) for d in flt.document_ids],
        "tags": list(flt.tags),
        "media_types": list(flt.media_types),
        "created_after": flt.created_after.isoformat() if flt.created_after else None,
        "created_before": flt.created_before.isoformat() if flt.created_before else None,
    }


def audit_details(stored: SearchRecord) -> dict[str, Any]:
    """What a search's audit event records: the query, mode, filter and each hit's hashes."""
    return {
        "query": stored.query,
        "mode": stored.mode,
        "filter": stored.filters,
        "identity": stored.identity,
        "access": stored.access,
        "results": [
            {
                "chunk_id": hit["chunk_id"],
                "score": hit["score"],
                "chunk_sha256": hit["citation"]["chunk_sha256"],
            }
            for hit in stored.results
        ],
    }
