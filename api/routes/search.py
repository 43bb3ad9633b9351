"""Search routes: search, replay a search, fetch a chunk."""

import uuid

from fastapi import APIRouter

from api.deps import ReaderCtx, ServicesDep
from api.schemas import (
    ChunkOut,
    CitationOut,
    ReplayedHit,
    SearchHit,
    SearchIn,
    SearchOut,
    SearchReplay,
)
from retrieval import search as searching
from retrieval.points import IndexFilter

router = APIRouter(tags=["search"])


@router.post("/v1/search", name="search")
def search(body: SearchIn, ctx: ReaderCtx, services: ServicesDep) -> SearchOut:
    """Search the caller's documents; every hit carries its exact citation."""
    request = _request(body)
    with services.metrics.time_search(body.mode):
        with ctx.reading():  # the index query and the hits' rows; the writes come after
            hits = searching.find(ctx.scope, services.retriever, request)
        record = searching.record(ctx.scope, request, hits, key_id=ctx.principal.key_id)
    ctx.record(
        [str(record.id)],
        query=body.query,
        mode=body.mode,
        filter=record.filters,
        results=[
            {
                "chunk_id": r["chunk_id"],
                "score": r["score"],
                "chunk_sha256": r["citation"]["chunk_sha256"],
            }
            for r in record.results
        ],
    )
    return SearchOut(
        search_id=record.id, results=[SearchHit.model_validate(r) for r in record.results]
    )


def _request(body: SearchIn) -> searching.SearchRequest:
    flt = body.filter
    return searching.SearchRequest(
        query=body.query,
        top_k=body.top_k,
        mode=body.mode,
        rerank=body.rerank,
        filter=IndexFilter(
            document_ids=tuple(flt.document_ids),
            tags=tuple(flt.tags),
            media_types=tuple(flt.media_types),
            created_after=flt.created_after,
            created_before=flt.created_before,
        ),
    )


@router.get("/v1/searches/{search_id}", name="search.replay")
def replay_search(search_id: uuid.UUID, ctx: ReaderCtx) -> SearchReplay:
    """What a past search returned, exactly."""
    record = searching.replay(ctx.scope, search_id)
    ctx.record([str(search_id)])
    return SearchReplay(
        search_id=record.id,
        results=[ReplayedHit.model_validate(r) for r in record.results],
        query=record.query,
        mode=record.mode,
        top_k=record.top_k,
        filter=record.filters,
        created_at=record.created_at,
    )


@router.get("/v1/chunks/{chunk_id}", name="chunk.read")
def get_chunk(chunk_id: uuid.UUID, ctx: ReaderCtx) -> ChunkOut:
    """One chunk's text and citation."""
    chunk, citation = searching.get_chunk(ctx.scope, chunk_id)
    ctx.record([str(chunk_id)])
    return ChunkOut(
        chunk_id=chunk.id, text=chunk.text, citation=CitationOut.model_validate(citation.to_json())
    )
