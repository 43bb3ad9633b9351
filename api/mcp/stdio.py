"""`enclave mcp`: the MCP server over stdio, a proxy to a running Enclave over HTTP.

It holds no database and no index: every call is an HTTP request made with the given key,
so the server decides the tenant and the role exactly as for any other client.
"""

from collections.abc import Awaitable
from typing import TypeVar

import httpx
from mcp.server.stdio import stdio_server
from starlette.requests import Request

from api.mcp import server
from enclave_client import tools
from enclave_client.client import AsyncClient, EnclaveError
from enclave_client.models import ChunkOut, DocumentList, SearchOut

T = TypeVar("T")


class Remote:
    """The tools answered by an Enclave server through `AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def search(self, caller: Request | None, args: tools.SearchArgs) -> SearchOut:
        """POST /v1/search."""
        flt = args.filter.model_dump(mode="json", exclude_defaults=True)
        return await _relay(
            self._client.search(args.query, top_k=args.top_k, mode=args.mode, filter=flt)
        )

    async def get_chunk(self, caller: Request | None, args: tools.GetChunkArgs) -> ChunkOut:
        """GET /v1/chunks/{chunk_id}."""
        return await _relay(self._client.get_chunk(args.chunk_id))

    async def list_documents(
        self, caller: Request | None, args: tools.ListDocumentsArgs
    ) -> DocumentList:
        """GET /v1/documents."""
        call = self._client.list_documents(
            status=args.status, tag=args.tag, limit=args.limit, offset=args.offset
        )
        return await _relay(call)


async def _relay(call: Awaitable[T]) -> T:
    """The server's answer, or its error code and message as a tool failure."""
    try:
        return await call
    except EnclaveError as exc:
        raise server.ToolFailure(exc.code, exc.message) from exc
    except httpx.HTTPError as exc:
        raise server.ToolFailure("unavailable", f"cannot reach Enclave: {exc}") from exc


async def serve(url: str, key: str) -> None:
    """Serve MCP on stdin/stdout until the client closes them."""
    async with AsyncClient(url, key) as client, stdio_server() as (read, write):
        mcp = server.build(Remote(client))
        await mcp.run(read, write, mcp.create_initialization_options())
