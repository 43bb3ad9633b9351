"""FastAPI exception handlers: every error answers `{"error": {"code", "message"}}`."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import errors
from ingest import errors as ingest_errors
from ingest import space
from tenancy import errors as tenancy_errors

log = logging.getLogger("enclave.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    status, code = errors.lookup(exc)
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
    if status == 503:  # a dependency is down: say when to try again, as the docs promise
        headers["Retry-After"] = "5"
    return JSONResponse(errors.error_body(code, message), status_code=status, headers=headers)


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
    return JSONResponse(errors.error_body("invalid_request", message), status_code=422)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = "not found" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(errors.error_body(code, message), exc.status_code, headers=exc.headers)


async def _storage(_request: Request, exc: Exception) -> JSONResponse:
    """A failed write or database call: 507 on a full disk (a write that raced the free-space
    check; its transaction was rolled back), else 503 (the database or disk failed us)."""
    if space.is_full(exc):
        log.warning("a write failed on a full disk: %s", exc)
        message = "the server's disk is full; retry when an operator has freed space"
        return JSONResponse(errors.error_body("insufficient_storage", message), status_code=507)
    log.error("storage unavailable", exc_info=exc)
    message = "storage is unavailable; retry shortly"
    body = errors.error_body("storage_unavailable", message)
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(errors.error_body("internal_error", "internal error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers."""
    for family in errors.FAMILIES:
        app.add_exception_handler(family, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OSError, _storage)
    app.add_exception_handler(OperationalError, _storage)
    app.add_exception_handler(Exception, _unexpected)
