"""MCP over streamable HTTP at `/mcp`: the bearer key decides the tenant of every call.

Each tool call is one request of the HTTP API: the principal from the key, the admin or
reader role, the same handler, its audit event and one transaction, run off the event loop.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api import calling, calls, errors
from api.mcp import server
from api.schemas import search_request
from api.services import Services
from api.transaction import Context
from enclave_client import tools
from enclave_client.models import ChunkOut, DocumentList, SearchOut
from retrieval.documents import DocumentQuery
from retrieval.models import DocumentStatus
from tenancy.errors import RateLimited
from tenancy.roles import Role

log = logging.getLogger("enclave.mcp")

T = TypeVar("T")
READERS = (Role.ADMIN, Role.READER)

# The audit actions of the HTTP routes these tools share, so the audit log reads the same.
SEARCH, CHUNK_READ, DOCUMENT_LIST, CONNECT = "search", "chunk.read", "document.list", "mcp.connect"


class InProcess:
    """The tools answered by this process: the same domain calls as the HTTP routes."""

    async def search(self, caller: Request | None, args: tools.SearchArgs) -> SearchOut:
        """As POST /v1/search."""
        request = search_request(args)
        return await _call(
            caller, SEARCH, lambda ctx, built: calls.search(ctx, built, request), searching=True
        )

    async def get_chunk(self, caller: Request | None, args: tools.GetChunkArgs) -> ChunkOut:
        """As GET /v1/chunks/{chunk_id}."""
        return await _call(caller, CHUNK_READ, lambda ctx, _: calls.get_chunk(ctx, args.chunk_id))

    async def list_documents(
        self, caller: Request | None, args: tools.ListDocumentsArgs
    ) -> DocumentList:
        """As GET /v1/documents."""
        status = DocumentStatus(args.status) if args.status else None
        query = DocumentQuery(status=status, tag=args.tag, limit=args.limit, offset=args.offset)
        return await _call(caller, DOCUMENT_LIST, lambda ctx, _: calls.list_documents(ctx, query))


async def _call(
    caller: Request | None, action: str, work: calling.Work[T], *, searching: bool = False
) -> T:
    if caller is None:
        raise server.ToolFailure("unauthenticated", "no API key")
    try:
        return await calling.in_thread(caller, action, READERS, work, search=searching)
    except Exception as exc:
        status, code = errors.lookup(exc)
        raise server.ToolFailure(code, _message(exc, status)) from exc


def _message(exc: Exception, status: int) -> str:
    """What the HTTP API would say: one 404 text for every kind, nothing of a 500."""
    if status == 404:
        return "not found"
    if status >= 500:
        log.error("MCP tool call failed", exc_info=exc)
        return "internal error"
    return str(exc)


class Endpoint:
    """The ASGI endpoint at `/mcp`: refuses a missing, bad or operator key, then serves MCP."""

    def __init__(self, mcp: Server[Any]) -> None:
        self._mcp = mcp
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve while the app's lifespan runs (a session manager runs only once)."""
        # Stateless JSON: any API process can answer any call, so it scales out like the API.
        manager = StreamableHTTPSessionManager(self._mcp, stateless=True, json_response=True)
        ready, stop = asyncio.Event(), asyncio.Event()
        # The manager's task group lives in a task of its own: a lifespan may be entered in
        # one task and left in another (test fixtures do), which a task group cannot survive.
        task = asyncio.create_task(_run(manager, ready, stop))
        await asyncio.wait([task, asyncio.create_task(ready.wait())], return_when="FIRST_COMPLETED")
        if task.done():
            task.result()  # it failed to start: raise why
        self._manager = manager
        try:
            yield
        finally:
            self._manager = None
            stop.set()
            await task

    def route(self, path: str) -> Route:
        """This endpoint as a route of the app (every method; not in the OpenAPI schema)."""
        return Route(path, endpoint=self, include_in_schema=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit the caller, then hand the request to the MCP transport."""
        if self._manager is None:
            body = errors.error_body("unavailable", "the MCP endpoint is not running")
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        if scope["method"] == "GET":
            # Stateless JSON answers: no server-sent event stream to hold open, ever.
            body = errors.error_body("method_not_allowed", "POST JSON-RPC requests to /mcp")
            headers = {"Allow": "POST, DELETE"}
            await JSONResponse(body, status_code=405, headers=headers)(scope, receive, send)
            return
        refusal = await _admit(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)


async def _run(
    manager: StreamableHTTPSessionManager, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    async with manager.run():
        ready.set()
        await stop.wait()


async def _admit(request: Request) -> JSONResponse | None:
    try:
        await calling.in_thread(request, CONNECT, READERS, _nothing)
    except Exception as exc:
        return _refusal(exc)
    return None


def _nothing(_ctx: Context, _built: Services) -> None:
    return None


def _refusal(exc: Exception) -> JSONResponse:
    """The HTTP API's error answer for `exc`."""
    status, code = errors.lookup(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    body = errors.error_body(code, _message(exc, status))
    return JSONResponse(body, status_code=status, headers=headers)


def build() -> Endpoint:
    """The `/mcp` endpoint of an app."""
    return Endpoint(server.build(InProcess()))
