"""The one table from domain errors to status codes and error codes, and the error body.

Every interface answers from it: the HTTP handlers (`api.http.handlers`) and the MCP tools.
"""

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from api.ops import manifest as backup_errors
from ingest import errors as ingest_errors
from retrieval import errors as retrieval_errors
from tenancy import errors as tenancy_errors

STATUS: dict[type[Exception], tuple[int, str]] = {
    tenancy_errors.Unauthenticated: (401, "unauthenticated"),
    tenancy_errors.PermissionDenied: (403, "forbidden"),
    tenancy_errors.NotFound: (404, "not_found"),
    tenancy_errors.Conflict: (409, "conflict"),
    tenancy_errors.InvalidRequest: (422, "invalid_request"),
    tenancy_errors.IsolationViolation: (500, "internal_error"),
    tenancy_errors.RateLimited: (429, "rate_limited"),
    tenancy_errors.QuotaExceeded: (413, "quota_exceeded"),
    tenancy_errors.StoreUnavailable: (503, "store_unavailable"),
    ingest_errors.PayloadTooLarge: (413, "payload_too_large"),
    ingest_errors.UnsupportedMediaType: (415, "unsupported_media_type"),
    ingest_errors.InvalidUpload: (422, "invalid_upload"),
    ingest_errors.ParseError: (422, "unparseable_document"),
    ingest_errors.QueueFull: (429, "queue_full"),
    ingest_errors.InvalidManifest: (422, "invalid_manifest"),
    ingest_errors.SyncConflict: (409, "sync_conflict"),
    ingest_errors.InsufficientStorage: (507, "insufficient_storage"),
    retrieval_errors.InvalidQuery: (422, "invalid_query"),
    retrieval_errors.RerankUnavailable: (422, "rerank_unavailable"),
    retrieval_errors.IndexUnavailable: (503, "index_unavailable"),
    backup_errors.BackupUnsupported: (422, "backup_unsupported"),
    backup_errors.InvalidBackupPath: (422, "invalid_backup_path"),
    backup_errors.BackupExists: (409, "backup_exists"),
}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """`{"error": {"code", "message"}}`."""
    return {"error": {"code": code, "message": message}}


def lookup(exc: Exception) -> tuple[int, str]:
    """Status and code of a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500, "internal_error"


def outcome(exc: Exception) -> str:
    """The audit outcome of a failed request: the code its caller was answered with."""
    if isinstance(exc, RequestValidationError):  # a body a route parses itself (the search)
        return "invalid_request"
    if isinstance(exc, HTTPException):
        return "http_error"
    return lookup(exc)[1]


# Domain error families: each interface installs one handler per family.
FAMILIES: tuple[type[Exception], ...] = (
    tenancy_errors.TenancyError,
    ingest_errors.IngestError,
    retrieval_errors.RetrievalError,
    backup_errors.BackupError,
)
