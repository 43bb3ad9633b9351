"""ASGI middleware: a request id on every request and response."""

import asyncio
import contextlib
import json
import re
import uuid
from urllib.parse import unquote

from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import logs
from enclave_client.models import CONTROL

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Accept a sane incoming `X-Request-Id` or make one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag the request and its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = logs.request_id_var.set(request_id)
        trace.get_current_span().set_attribute("enclave.request_id", request_id)  # FastAPI's span

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id_var.reset(token)


# A request whose body stops arriving this long is answered 408 (not held open forever).
BODY_IDLE_S = 30.0


class BodyTooLarge(Exception):
    """Raised from `receive` once a body passes its limit."""


class BodyLimitMiddleware:
    """413 as soon as a request body passes its limit, before it is buffered whole; 408 when
    a body stops arriving; 422 for a path or query string with a NUL or control character.

    The size check runs on the bytes actually received (chunked bodies too) and on a
    declared Content-Length up front.
    """

    def __init__(self, app: ASGIApp, *, upload_bytes: int, other_bytes: int = 1024 * 1024) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.other_bytes = other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Enforce the limit of this request's path."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _controls_in_target(scope):
            await _refuse(send, 422, "invalid_request", "the URL contains a control character")
            return
        limit = self.upload_bytes if _takes_files(scope["path"]) else self.other_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _drain(receive, DRAIN_BYTES)
            await _too_large(send, limit)
            return
        await _LimitedCall(self.app, limit).run(scope, receive, send)


def _controls_in_target(scope: Scope) -> bool:
    query = unquote(scope.get("query_string", b"").decode("latin-1"))
    return not CONTROL.isdisjoint(scope["path"]) or not CONTROL.isdisjoint(query)


def _takes_files(path: str) -> bool:
    """Uploads and a sync's manifest and files may be large; every other body is small."""
    path = path.rstrip("/")
    return path == "/v1/documents" or (path.startswith("/v1/sources/") and "/runs" in path)


class _LimitedCall:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit, self.seen, self.exceeded, self.started = app, limit, 0, False, False
        self.timed_out = self.body_done = False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def limited_receive() -> Message:
            if self.body_done:  # waiting for a disconnect now (a stream): no deadline
                return await receive()
            try:
                async with asyncio.timeout(BODY_IDLE_S):  # no task per call, as wait_for made
                    message = await receive()
            except TimeoutError:
                self.timed_out = True
                raise BodyTooLarge from None
            self.body_done = not message.get("more_body", False)
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.exceeded = True
                raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if self.exceeded or self.timed_out:
                return  # the app's own error for the broken body is replaced by our 413
            self.started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if self.timed_out and not self.started:
            await _refuse(send, 408, "request_timeout", f"no body bytes for {BODY_IDLE_S} s")
        elif self.exceeded and not self.started:
            await _too_large(send, self.limit)


# Read (and drop) this much of a refused body before answering, so that an
# ordinary client sees the 413 instead of a connection reset mid-upload.
DRAIN_BYTES = 16 * 1024 * 1024


async def _drain(receive: Receive, cap: int) -> None:
    """Read up to `cap` bytes of a refused body; a body that stops arriving is left behind."""
    seen = 0
    while seen <= cap:
        try:
            message = await asyncio.wait_for(receive(), BODY_IDLE_S)
        except TimeoutError:
            return
        seen += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, "payload_too_large", f"request body exceeds {limit} bytes")


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status in (408, 413):  # the rest of the body is not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]
_API_ONLY = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]
# The docs pages run their own scripts only (no inline script, no other origin); Swagger UI
# and ReDoc set inline styles, ReDoc starts a worker from a blob.
_DOCS_ONLY = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        b"worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
]


# The console runs its own modules only: no inline script or style, no other origin, and it
# talks to this service alone.
_CONSOLE_ONLY = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
]


def _page_headers(path: str) -> list[tuple[bytes, bytes]]:
    if path.startswith(("/docs", "/redoc")):
        return _DOCS_ONLY
    if path == "/console" or path.startswith("/console/"):
        return _CONSOLE_ONLY
    return _API_ONLY


class SecurityHeadersMiddleware:
    """Hardening headers on every response; the docs and the console keep a usable CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _SECURITY_HEADERS + _page_headers(scope["path"])

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers[name.decode()] = value.decode()
            await send(message)

        await self.app(scope, receive, send_hardened)
