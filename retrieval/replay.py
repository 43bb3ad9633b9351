"""Recorded searches: replay them, and strip an erased document's text from them."""

import uuid
from typing import Any

from sqlalchemy import String, cast

from retrieval import documents
from retrieval.models import SearchRecord
from tenancy.errors import NotFound
from tenancy.scope import Scope


def replay(scope: Scope, search_id: uuid.UUID, *, identity: str | None = None) -> SearchRecord:
    """A recorded search of this tenant, or NotFound.

    A restricted caller (a reader) sees only the searches made under its own identity, and
    of those, only the hits it may still read: the others keep their ids and hashes but not
    their text (`withheld`)."""
    found = scope.get(SearchRecord, search_id, kind="search")
    if scope.access is None:
        return found
    if found.identity is None or found.identity != identity:
        raise NotFound("search")
    readable = documents.rows(scope, [_document_id(hit) for hit in found.results])
    trimmed = [hit if _document_id(hit) in readable else _withheld(hit) for hit in found.results]
    return SearchRecord(
        id=found.id,
        key_id=found.key_id,
        query=found.query,
        mode=found.mode,
        top_k=found.top_k,
        filters=found.filters,
        results=trimmed,
        created_at=found.created_at,
        identity=found.identity,
        access=found.access,
        receipt=found.receipt,
    )


def _document_id(hit: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(hit["citation"]["document_id"])


def _withheld(hit: dict[str, Any]) -> dict[str, Any]:
    return {**hit, "text": None, "withheld": True}


def redact_document(scope: Scope, document_id: uuid.UUID) -> int:
    """Strip a deleted document's text from recorded searches; ids and hashes stay for replay."""
    needle = str(document_id)
    query = scope.select(SearchRecord).where(cast(SearchRecord.results, String).contains(needle))
    records = scope.all(query)
    for record in records:
        record.results = [_redacted(hit, needle) for hit in record.results]
    return len(records)


def _redacted(hit: dict[str, Any], document_id: str) -> dict[str, Any]:
    if hit["citation"]["document_id"] != document_id:
        return hit
    return {**hit, "text": None, "deleted": True}
