"""Pydantic AI tools over Enclave (extra `pydantic-ai`: needs `pydantic-ai-slim`).

The tools have the same names, descriptions and strict schemas as the MCP tools.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_ai import ModelRetry, Tool

from enclave_client import tools
from enclave_client.client import AsyncClient, EnclaveError

# Errors the model can fix by changing its arguments; anything else is raised as is.
RETRYABLE = frozenset({404, 422})

Call = Callable[[AsyncClient, Any], Awaitable[BaseModel]]


def search_tool(url: str, key: str, *, timeout: float = 120.0) -> Tool[Any]:
    """`search`: cited passages from the key's tenant."""

    async def call(client: AsyncClient, args: tools.SearchArgs) -> BaseModel:
        flt = args.filter.model_dump(mode="json", exclude_defaults=True)
        return await client.search(args.query, top_k=args.top_k, mode=args.mode, filter=flt)

    return _tool(tools.SEARCH, call, url, key, timeout)


def get_chunk_tool(url: str, key: str, *, timeout: float = 120.0) -> Tool[Any]:
    """`get_chunk`: one passage and its citation."""

    async def call(client: AsyncClient, args: tools.GetChunkArgs) -> BaseModel:
        return await client.get_chunk(args.chunk_id)

    return _tool(tools.GET_CHUNK, call, url, key, timeout)


def enclave_tools(url: str, key: str, *, timeout: float = 120.0) -> list[Tool[Any]]:
    """Both tools, for `Agent(..., tools=enclave_tools(url, key))`."""
    return [search_tool(url, key, timeout=timeout), get_chunk_tool(url, key, timeout=timeout)]


def _tool(spec: tools.ToolSpec, call: Call, url: str, key: str, timeout: float) -> Tool[Any]:
    async def run(**arguments: Any) -> dict[str, Any]:
        args = _validated(spec, arguments)
        try:
            async with AsyncClient(url, key, timeout=timeout) as client:
                result = await call(client, args)
        except EnclaveError as exc:
            if exc.status in RETRYABLE:
                raise ModelRetry(f"{exc.code}: {exc.message}") from exc
            raise
        return result.model_dump(mode="json")

    return Tool.from_schema(run, spec.name, spec.description, spec.input_schema())


def _validated(spec: tools.ToolSpec, arguments: dict[str, Any]) -> tools.Args:
    """Strict arguments, or a retry that tells the model what to fix."""
    try:
        return spec.args.model_validate(arguments)
    except ValidationError as exc:
        raise ModelRetry(tools.explain(exc)) from exc
