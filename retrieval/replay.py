"""Recorded searches: replay them, and strip an erased document's text from them."""

import uuid
from typing import Any

from sqlalchemy import String, cast

from retrieval.models import SearchRecord
from tenancy.scope import Scope


def replay(scope: Scope, search_id: uuid.UUID) -> SearchRecord:
    """A recorded search of this tenant, or NotFound."""
    return scope.get(SearchRecord, search_id, kind="search")


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
