"""The attacks `enclave probe` makes on the MCP endpoint: every tool across tenants."""

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from api.probe.probe import FORBIDDEN, OK, UNAUTH, Probe, Side, random_id

MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def rpc(tool: str, arguments: Mapping[str, object]) -> dict[str, Any]:
    """Request options of a `tools/call` over streamable HTTP."""
    return {"json": _rpc_json(tool, arguments), "headers": MCP_HEADERS}


def _rpc_json(tool: str, arguments: Mapping[str, object]) -> dict[str, Any]:
    call = {"name": tool, "arguments": dict(arguments)}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}


def _tool_error(code: str) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        result = response.json().get("result", {})
        text = json.dumps(result)
        return None if result.get("isError") and code in text else f"expected a {code} tool error"

    return check


def _same_as_missing_chunk(http: httpx.Client, key: str) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {key}"}
        body = _rpc_json("get_chunk", {"chunk_id": random_id()})
        missing = http.post("/mcp", headers=headers, json=body)
        return (
            None if missing.content == response.content else "differs from a missing chunk's answer"
        )

    return check


def mcp_tools(
    http: httpx.Client, attacker: Side, victim: Side, operator: str | None
) -> Iterator[Probe]:
    """The MCP tools over HTTP: the same isolation as the routes."""
    key = attacker.reader
    chunk = rpc("get_chunk", {"chunk_id": victim.ids["chunk"]})
    yield Probe(
        "mcp get_chunk of other tenant",
        "POST",
        "/mcp",
        key,
        OK,
        victim,
        chunk,
        _same_as_missing_chunk(http, key),
    )
    for mode in ("dense", "sparse", "hybrid"):
        args = {
            "query": victim.canary,
            "mode": mode,
            "top_k": 50,
            "filter": {"document_ids": [victim.ids["document"]]},
        }
        yield Probe(
            f"mcp search {mode} for other tenant",
            "POST",
            "/mcp",
            key,
            OK,
            victim,
            rpc("search", args),
        )
    yield Probe("mcp list_documents", "POST", "/mcp", key, OK, victim, rpc("list_documents", {}))
    hint = rpc("search", {"query": victim.canary, "tenant": victim.tenant_id or random_id()})
    yield Probe(
        "mcp search with a tenant argument",
        "POST",
        "/mcp",
        key,
        OK,
        victim,
        hint,
        _tool_error("invalid_arguments"),
    )
    raw = rpc("search", {"query": "x", "filter": {"must": [{"key": "tenant_id"}]}})
    yield Probe(
        "mcp raw Qdrant filter",
        "POST",
        "/mcp",
        key,
        OK,
        victim,
        raw,
        _tool_error("invalid_arguments"),
    )
    yield Probe(
        "mcp without a key", "POST", "/mcp", None, UNAUTH, victim, rpc("list_documents", {})
    )
    if operator:
        yield Probe(
            "mcp with the operator key",
            "POST",
            "/mcp",
            operator,
            FORBIDDEN,
            victim,
            rpc("list_documents", {}),
        )
