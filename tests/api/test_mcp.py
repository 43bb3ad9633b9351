"""MCP over streamable HTTP at /mcp, driven by the SDK's own client, with two tenants' keys."""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from tests.api.conftest import World
from tests.conftest import OPERATOR_KEY
from tests.factories import auth

BASE = "http://enclave.test"


@asynccontextmanager
async def connect(app: FastAPI, key: str, *, mode: str = "auto") -> AsyncIterator[Client]:
    """The SDK client on the app's /mcp endpoint, in-process, with `key` as bearer."""
    transport = httpx2.ASGITransport(app=app)
    async with (
        httpx2.AsyncClient(transport=transport, base_url=BASE, headers=auth(key)) as http,
        Client(streamable_http_client(f"{BASE}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


def body(result: CallToolResult) -> Any:
    """The JSON a tool answered with (results and errors alike)."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    return json.loads(block.text)


def error_code(result: CallToolResult) -> str:
    """The error code of a failed call."""
    assert result.is_error, result
    code: str = body(result)["error"]["code"]
    return code


def _objects(schema: Any) -> list[dict[str, Any]]:
    """Every object schema inside `schema`."""
    if isinstance(schema, list):
        return [o for item in schema for o in _objects(item)]
    if not isinstance(schema, dict):
        return []
    found = [schema] if schema.get("type") == "object" else []
    return found + [o for value in schema.values() for o in _objects(value)]


async def test_tools_are_listed_with_strict_schemas(app: FastAPI, world: World) -> None:
    async with connect(app, world.a.keys.reader) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == {"search", "get_chunk", "list_documents"}
    for tool in listed.values():
        assert tool.description
        assert len(tool.description) > 80
        objects = _objects(tool.input_schema)
        assert objects
        assert all(o.get("additionalProperties") is False for o in objects)
        names = json.dumps(tool.input_schema).lower()
        assert "tenant" not in names
        assert "collection" not in names
    search = listed["search"].input_schema["properties"]
    assert (search["top_k"]["minimum"], search["top_k"]["maximum"]) == (1, 50)
    assert search["mode"]["enum"] == ["hybrid", "dense", "sparse"]
    assert set(search["filter"]["properties"]) == {
        "document_ids",
        "tags",
        "media_types",
        "created_after",
        "created_before",
    }


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_search_finds_only_the_keys_tenant(app: FastAPI, world: World, mode: str) -> None:
    for side, other in ((world.a, world.b), (world.b, world.a)):
        async with connect(app, side.keys.reader, mode=mode) as client:
            result = await client.call_tool("search", {"query": "handbook reference code"})
        assert not result.is_error, result
        found = result.structured_content
        assert isinstance(found, dict)
        assert found == body(result)
        assert found["results"]
        documents = {hit["citation"]["document_id"] for hit in found["results"]}
        assert documents == {side.document_id}
        assert other.document_id not in json.dumps(found)
        uuid.UUID(found["search_id"])


async def test_search_is_recorded_and_audited_like_http(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    async with connect(app, world.a.keys.reader) as mcp:
        result = await mcp.call_tool("search", {"query": "safety", "top_k": 2, "mode": "sparse"})
    found = result.structured_content
    assert isinstance(found, dict)
    search_id = found["search_id"]
    replay = await client.get(f"/v1/searches/{search_id}", headers=auth(world.a.keys.reader))
    assert replay.status_code == 200
    assert replay.json()["mode"] == "sparse"
    assert replay.json()["top_k"] == 2
    other = await client.get(f"/v1/searches/{search_id}", headers=auth(world.b.keys.reader))
    assert other.status_code == 404
    events = await client.get("/v1/audit?action=search", headers=auth(world.a.keys.admin))
    assert search_id in {t for e in events.json()["events"] for t in e["targets"]}


async def test_search_filters_apply(app: FastAPI, world: World) -> None:
    async with connect(app, world.a.keys.reader) as client:
        kept = await client.call_tool(
            "search",
            {"query": "handbook", "filter": {"document_ids": [world.a.document_id]}},
        )
        elsewhere = await client.call_tool(
            "search",
            {"query": "handbook", "filter": {"document_ids": [world.b.document_id]}},
        )
    assert body(kept)["results"]
    assert body(elsewhere)["results"] == []


async def test_the_deprecated_filters_name_still_filters_for_a_release(
    app: FastAPI, world: World
) -> None:
    only_b = {"document_ids": [world.b.document_id]}
    async with connect(app, world.a.keys.reader) as client:
        old_name = await client.call_tool("search", {"query": "handbook", "filters": only_b})
        both = await client.call_tool(
            "search", {"query": "handbook", "filter": {}, "filters": only_b}
        )
    assert body(old_name)["results"] == []  # applied, not ignored
    assert both.is_error
    assert "give `filter` only" in body(both)["error"]["message"]


async def test_get_chunk_of_another_tenant_answers_like_a_missing_one(
    app: FastAPI, world: World
) -> None:
    async with connect(app, world.a.keys.reader) as client:
        own = await client.call_tool("get_chunk", {"chunk_id": world.a.chunk_id})
        foreign = await client.call_tool("get_chunk", {"chunk_id": world.b.chunk_id})
        missing = await client.call_tool("get_chunk", {"chunk_id": str(uuid.uuid4())})
    assert not own.is_error
    chunk = body(own)
    assert chunk["chunk_id"] == world.a.chunk_id
    assert chunk["citation"]["document_id"] == world.a.document_id
    assert chunk["text"]
    assert foreign.is_error
    assert missing.is_error
    assert foreign.content == missing.content
    assert body(foreign) == {"error": {"code": "not_found", "message": "not found"}}


async def test_list_documents_lists_only_the_keys_tenant(app: FastAPI, world: World) -> None:
    async with connect(app, world.b.keys.reader) as client:
        result = await client.call_tool("list_documents", {"status": "ready"})
    listed = body(result)
    assert [d["id"] for d in listed["documents"]] == [world.b.document_id]
    assert listed["next_offset"] is None


BAD_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("search", {"query": "x", "tenant_id": "00000000-0000-0000-0000-000000000000"}),
    ("search", {"query": "x", "collection": "tenant_other"}),
    ("search", {"query": "x", "filters": {"must": [{"key": "tenant_id"}]}}),
    ("search", {"query": "x", "filters": {"tenant_id": "x"}}),
    ("search", {"query": "x", "top_k": 51}),
    ("search", {"query": "x", "top_k": 0}),
    ("search", {"query": "x", "mode": "bm25"}),
    ("search", {"query": "   "}),
    ("search", {}),
    ("get_chunk", {"chunk_id": "not-a-uuid"}),
    ("get_chunk", {"chunk_id": str(uuid.uuid4()), "tenant": "other"}),
    ("list_documents", {"limit": 1000}),
    ("list_documents", {"offset": 2**63}),  # HTTP's bound too: no overflow in the database
    ("list_documents", {"offset": -1}),
    ("search", {"query": "turbine\x00"}),
    ("list_documents", {"tenant_id": "x"}),
]


async def test_tools_reject_unknown_and_invalid_arguments(app: FastAPI, world: World) -> None:
    async with connect(app, world.a.keys.reader) as client:
        for tool, arguments in BAD_ARGUMENTS:
            result = await client.call_tool(tool, arguments)
            assert error_code(result) == "invalid_arguments", (tool, arguments)


async def test_an_error_names_the_offending_argument(app: FastAPI, world: World) -> None:
    async with connect(app, world.a.keys.reader) as client:
        result = await client.call_tool("search", {"query": "x", "filter": {"tenant": "b"}})
    assert body(result)["error"]["message"] == "filter.tenant: Extra inputs are not permitted"


async def test_an_unknown_tool_is_a_protocol_error(app: FastAPI, world: World) -> None:
    async with connect(app, world.a.keys.reader) as client:
        with pytest.raises(MCPError, match="unknown tool"):
            await client.call_tool("delete_everything", {})


async def test_admin_keys_may_use_the_tools(app: FastAPI, world: World) -> None:
    async with connect(app, world.a.keys.admin) as client:
        result = await client.call_tool("get_chunk", {"chunk_id": world.a.chunk_id})
    assert not result.is_error


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "unauthenticated"),
        ("ek_not-a-real-key", 401, "unauthenticated"),
        (OPERATOR_KEY, 403, "forbidden"),
    ],
)
async def test_the_endpoint_refuses_missing_bad_and_operator_keys(
    client: httpx.AsyncClient, world: World, key: str | None, status: int, code: str
) -> None:
    headers = {**MCP_HEADERS, **(auth(key) if key else {})}
    response = await client.post("/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_a_revoked_key_stops_working_on_the_next_call(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    admin = auth(world.a.keys.admin)
    issued = await client.post("/v1/keys", json={"role": "reader", "name": "agent"}, headers=admin)
    assert issued.status_code == 201, issued.text
    async with connect(app, issued.json()["key"]) as mcp:
        assert not (await mcp.call_tool("search", {"query": "handbook"})).is_error
        revoked = await client.delete(f"/v1/keys/{issued.json()['id']}", headers=admin)
        assert revoked.status_code == 200, revoked.text
        with pytest.raises(MCPError):
            await mcp.call_tool("search", {"query": "handbook"})


async def test_the_server_reports_the_package_version(app: FastAPI, world: World) -> None:
    from importlib import metadata

    async with connect(app, world.a.keys.reader) as client:
        info = client.server_info
    assert info is not None
    assert (info.name, info.version) == ("enclave", metadata.version("enclave-search"))
