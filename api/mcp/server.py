"""The MCP server: lists the tools and runs a call against a backend (in-process or HTTP)."""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from api import version
from enclave_client import tools
from enclave_client.models import ChunkOut, DocumentList, SearchOut

log = logging.getLogger("enclave.mcp")

INSTRUCTIONS = """\
Enclave searches this organisation's own documents and returns passages with exact \
citations. Call `search` first; cite each fact by the citation's filename and pages; use \
`get_chunk` to re-read a passage and `list_documents` to see what can be searched. The key \
you were given decides which documents you can see."""


class ToolFailure(Exception):
    """A call that could not be answered: a stable `code` and a message safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Backend(Protocol):
    """Where tool calls go; `caller` is the HTTP request (None over stdio)."""

    async def search(self, caller: Request | None, args: tools.SearchArgs) -> SearchOut:
        """Run a search."""
        ...

    async def get_chunk(self, caller: Request | None, args: tools.GetChunkArgs) -> ChunkOut:
        """Read one chunk."""
        ...

    async def list_documents(
        self, caller: Request | None, args: tools.ListDocumentsArgs
    ) -> DocumentList:
        """List documents."""
        ...


Handler = Callable[[Request | None, Any], Awaitable[BaseModel]]


class Dispatcher:
    """The `tools/list` and `tools/call` handlers over one backend."""

    def __init__(self, backend: Backend) -> None:
        self._handlers: dict[str, Handler] = {
            tools.SEARCH.name: backend.search,
            tools.GET_CHUNK.name: backend.get_chunk,
            tools.LIST_DOCUMENTS.name: backend.list_documents,
        }

    async def list_tools(
        self, _ctx: ServerRequestContext[Any], _params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        """Every tool with its strict input schema and its output schema."""
        return ListToolsResult(tools=[_tool(spec) for spec in tools.TOOLS])

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult:
        """Run one call; the HTTP request (absent over stdio) carries the caller's key."""
        spec = tools.BY_NAME.get(params.name)
        if spec is None:
            raise MCPError(INVALID_PARAMS, f"unknown tool {params.name!r}")
        caller = ctx.request if isinstance(ctx.request, Request) else None
        return await run(spec, self._handlers[spec.name], caller, params.arguments or {})


def build(backend: Backend) -> Server[Any]:
    """An MCP server whose three tools call `backend`."""
    dispatcher = Dispatcher(backend)
    return Server(
        "enclave",
        version=version.VERSION,
        instructions=INSTRUCTIONS,
        on_list_tools=dispatcher.list_tools,
        on_call_tool=dispatcher.call_tool,
    )


def _tool(spec: tools.ToolSpec) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(),
        output_schema=spec.output_schema(),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )


async def run(
    spec: tools.ToolSpec, handler: Handler, caller: Request | None, arguments: dict[str, Any]
) -> CallToolResult:
    """Validate the arguments strictly, call the handler, render a result or an error."""
    try:
        args = spec.args.model_validate(arguments)
    except ValidationError as exc:
        return _error(ToolFailure("invalid_arguments", tools.explain(exc)))
    try:
        result = await handler(caller, args)
    except ToolFailure as failure:
        return _error(failure)
    data = result.model_dump(mode="json")
    text = json.dumps(data, ensure_ascii=False)
    return CallToolResult(content=[TextContent(text=text)], structured_content=data)


def _error(failure: ToolFailure) -> CallToolResult:
    body = {"error": {"code": failure.code, "message": failure.message}}
    return CallToolResult(content=[TextContent(text=json.dumps(body))], is_error=True)
