"""Search routes: search, replay a search, fetch a chunk."""

import uuid

from fastapi import APIRouter, Request

from api import calling, calls
from api.http import deps
from api.http.deps import ReaderCtx
from api.schemas import SearchIn, search_request
from api.services import Services
from api.transaction import Context
from enclave_client.models import ChunkOut, ReceiptOut, ReplayedHit, SearchOut, SearchReplay
from retrieval import replay
from tenancy.errors import NotFound
from tenancy.roles import Role

router = APIRouter(tags=["search"])
READERS = (Role.ADMIN, Role.READER)


@router.post("/v1/search", name="search", openapi_extra=deps.json_body(SearchIn))
@deps.authenticates(*READERS)
async def search(request: Request) -> SearchOut:
    """Search the caller's documents; every hit carries its exact citation."""
    raw = await request.body()
    # The hot path: authentication, the body, search, record and commit in one worker
    # thread (`api.calling`), where the dependencies would hand the request over three
    # times. The body is read as the key allows: 401 before 422, as on every route.
    return await calling.in_thread(
        request, "search", READERS, lambda ctx, built: _search(ctx, built, raw), search=True
    )


def _search(ctx: Context, built: Services, raw: bytes) -> SearchOut:
    body = deps.parse_json(SearchIn, raw)
    return calls.search(ctx, built, search_request(body))


@router.get("/v1/searches/{search_id}", name="search.replay")
def replay_search(search_id: uuid.UUID, ctx: ReaderCtx) -> SearchReplay:
    """What a past search returned, exactly."""
    record = replay.replay(ctx.scope, search_id, identity=ctx.principal.label())
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


@router.get("/v1/searches/{search_id}/receipt", name="search.receipt")
def search_receipt(search_id: uuid.UUID, ctx: ReaderCtx) -> ReceiptOut:
    """The signed receipt a past search answered with (its deleted documents keep their
    hashes in it)."""
    record = replay.replay(ctx.scope, search_id, identity=ctx.principal.label())
    if record.receipt is None:
        raise NotFound("receipt")
    ctx.record([str(search_id)])
    return ReceiptOut(search_id=record.id, receipt=record.receipt)


@router.get("/v1/chunks/{chunk_id}", name="chunk.read")
def get_chunk(chunk_id: uuid.UUID, ctx: ReaderCtx) -> ChunkOut:
    """One chunk's text and citation."""
    return calls.get_chunk(ctx, chunk_id)
