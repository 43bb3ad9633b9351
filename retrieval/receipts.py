"""Search receipts: what a search showed, in a form its signature can cover.

The payload names the search, the tenant, who searched and with which access tokens, a hash
of the query (never its text), the mode, filters and model, every hit's chunk, rank, score,
document, version, character span and hashes, and the sequence number and hash of the
search's audit event. Signed (by the caller's signing key), it proves offline, to anyone
with the service's public keys, what an agent was shown; with the documents' text, every
cited span can be checked byte for byte.
"""

import hashlib
from datetime import datetime
from typing import Any

from retrieval.models import SearchRecord

KIND = "enclave.search-receipt"
VERSION = 1
HIT_FIELDS = ("rank", "score", "chunk_id")
CITATION_FIELDS = (
    "document_id",
    "version",
    "char_start",
    "char_end",
    "chunk_sha256",
    "document_sha256",
)


def payload(row: SearchRecord, *, model: str, audit_seq: int, audit_hash: str) -> dict[str, Any]:
    """The receipt of a recorded search and its audit event."""
    return {
        "typ": KIND,
        "v": VERSION,
        "search_id": str(row.id),
        "tenant_id": str(row.tenant_id),
        "key_id": str(row.key_id) if row.key_id else None,
        "identity": row.identity,
        "access": row.access,
        "searched_at": _iso(row.created_at),
        "query_sha256": hashlib.sha256(row.query.encode()).hexdigest(),
        "mode": row.mode,
        "top_k": row.top_k,
        "filter": row.filters,
        "model": model,
        "hits": [_hit(hit) for hit in row.results],
        "audit": {"seq": audit_seq, "hash": audit_hash},
    }


def _hit(hit: dict[str, Any]) -> dict[str, Any]:
    citation = hit["citation"]
    return {
        **{name: hit[name] for name in HIT_FIELDS},
        **{name: citation[name] for name in CITATION_FIELDS},
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
