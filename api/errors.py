"""The one table from domain errors to HTTP status codes, and the JSON error body."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import backup_manifest as backup_errors
from ingest import errors as ingest_errors
from retrieval import errors as retrieval_errors
from tenancy import errors as tenancy_errors

log = logging.getLogger("enclave.api")

STATUS: dict[type[Exception], tuple[int, str]] = {
    tenancy_errors.Unauthenticated: (401, "unauthenticated"),
    tenancy_errors.PermissionDenied: (403, "forbidden"),
    tenancy_errors.NotFound: (404, "not_found"),
    tenancy_errors.Conflict: (409, "conflict"),
    tenancy_errors.InvalidRequest: (422, "invalid_request"),
    tenancy_errors.IsolationViolation: (500, "internal_error"),
    tenancy_errors.RateLimited: (429, "rate_limited"),
    tenancy_errors.QuotaExceeded: (413, "quota_exceeded"),
    ingest_errors.PayloadTooLarge: (413, "payload_too_large"),
    ingest_errors.UnsupportedMediaType: (415, "unsupported_media_type"),
    ingest_errors.InvalidUpload: (422, "invalid_upload"),
    ingest_errors.ParseError: (422, "unparseable_document"),
    ingest_errors.QueueFull: (429, "queue_full"),
    retrieval_errors.InvalidQuery: (422, "invalid_query"),
    retrieval_errors.RerankUnavailable: (422, "rerank_unavailable"),
    retrieval_errors.IndexUnavailable: (503, "index_unavailable"),
    backup_errors.BackupUnsupported: (422, "backup_unsupported"),
    backup_errors.InvalidBackupPath: (422, "invalid_backup_path"),
    backup_errors.BackupExists: (409, "backup_exists"),
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
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


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    status, code = lookup(exc)
    _count(request, code)
    # A 404 says the same whatever the kind, so other tenants' ids cannot be told apart.
    message = "not found" if status == 404 else str(exc)
    if status >= 500:
        message = "internal error"
    headers = {}
    if isinstance(exc, tenancy_errors.RateLimited | ingest_errors.QueueFull):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, tenancy_errors.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


_SECURITY_CODES = {"unauthenticated", "forbidden", "internal_error"}


def _count(request: Request, code: str) -> None:
    services = getattr(request.app.state, "services", None)
    metrics = getattr(services, "metrics", None)
    if metrics is None:
        return
    if code == "rate_limited":
        metrics.rate_limited.inc()
    elif code in _SECURITY_CODES:
        metrics.security.labels(code).inc()


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
    return JSONResponse(error_body("invalid_request", message), status_code=422)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = "not found" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers."""
    for cls in (
        tenancy_errors.TenancyError,
        ingest_errors.IngestError,
        retrieval_errors.RetrievalError,
        backup_errors.BackupError,
    ):
        app.add_exception_handler(cls, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
