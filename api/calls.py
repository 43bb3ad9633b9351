"""The data-plane calls that agents make, shared by the HTTP routes and the MCP tools.

Each is one domain call, its audit event and the wire model, so a tool call and the HTTP
request it mirrors are the same request to the domain and read the same in the audit log.
"""

import uuid
from dataclasses import replace

from api.services import Services
from api.transaction import Context
from enclave_client.models import (
    ChunkOut,
    CitationOut,
    DocumentList,
    DocumentOut,
    SearchHit,
    SearchOut,
)
from retrieval import citations, documents, receipts
from retrieval import search as searching


def search(ctx: Context, services: Services, request: searching.SearchRequest) -> SearchOut:
    """Search the caller's tenant; the search is recorded and audited before it answers (so
    on a full disk it is refused before the index is touched)."""
    services.disk.check_floor()
    scope = ctx.scope
    with services.metrics.time_search(request.mode):
        found = searching.search(
            scope,
            services.retriever,
            request,
            key_id=ctx.principal.key_id,
            identity=ctx.principal.label(),
        )
        services.writes.run(
            ctx.session, lambda session: _keep(replace(ctx, session=session), services, found)
        )
    return SearchOut(
        search_id=found.record.id,
        results=[SearchHit.model_validate(hit) for hit in found.record.results],
        receipt=found.record.receipt,
    )


def _keep(ctx: Context, services: Services, found: searching.Searched) -> None:
    """A search's writes: its audit event, then its receipt (which names that event), then
    its record with the receipt."""
    event = ctx.record([str(found.record.id)], **found.audit)
    model = services.embedder.name
    signed = receipts.payload(found.record, model=model, audit_seq=event.seq, audit_hash=event.hash)
    found.record.receipt = services.signing.sign(signed)
    searching.keep(ctx.scope, found.record)


def get_chunk(ctx: Context, chunk_id: uuid.UUID) -> ChunkOut:
    """One chunk of the caller's tenant with its citation."""
    chunk, citation = citations.get_chunk(ctx.scope, chunk_id)
    ctx.record([str(chunk_id)])
    return ChunkOut(
        chunk_id=chunk.id, text=chunk.text, citation=CitationOut.model_validate(citation.to_json())
    )


def list_documents(ctx: Context, query: documents.DocumentQuery) -> DocumentList:
    """A page of the caller's documents."""
    rows = documents.list_documents(ctx.scope, query)
    ctx.record(status=query.status, tag=query.tag)
    more = query.offset + query.limit if len(rows) == query.limit else None
    return DocumentList(documents=[DocumentOut.model_validate(r) for r in rows], next_offset=more)
