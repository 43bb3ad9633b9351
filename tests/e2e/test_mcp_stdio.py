"""`enclave mcp` over stdio, proxying a real `enclave serve`, with two tenants' keys."""

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult, TextContent

from enclave_client.client import Client as EnclaveClient
from tests.e2e.test_serve import ENCLAVE, KEY_LINE, Server
from tests.factories import FIXTURES

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Tenant:
    """A tenant of the live server: its keys and its one indexed document."""

    admin: str
    reader: str
    document_id: str
    chunk_id: str


@dataclass(frozen=True)
class Live:
    """A running server with two tenants."""

    url: str
    a: Tenant
    b: Tenant


def _issue(http: httpx.Client, tenant_id: str, role: str, op: dict[str, str]) -> str:
    body = {"role": role, "name": f"{role} key"}
    response = http.post(f"/v1/tenants/{tenant_id}/keys", json=body, headers=op)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def _wait(client: EnclaveClient, job_id: str) -> None:
    deadline = time.monotonic() + 120
    while client.job(job_id).status not in ("done", "failed"):
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.3)
    assert client.job(job_id).status == "done"


def make_tenant(server: Server, op: dict[str, str], name: str, folder: str) -> Tenant:
    """Create a tenant through the API and index its handbook."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        created = http.post("/v1/tenants", json={"name": name}, headers=op)
        assert created.status_code == 201, created.text
        admin = _issue(http, created.json()["id"], "admin", op)
        reader = _issue(http, created.json()["id"], "reader", op)
    with EnclaveClient(server.url, admin) as client:
        data = (FIXTURES / folder / "handbook.md").read_bytes()
        upload = client.upload([("handbook.md", data)])
        _wait(client, str(upload.job_id))
        hit = client.search("handbook reference code", mode="dense").results[0]
    return Tenant(admin, reader, str(upload.documents[0].id), str(hit.chunk_id))


def start_live(data_dir: Path) -> tuple[Server, Live]:
    """An `enclave serve` with Acme and Globex, each with an indexed handbook."""
    server = Server(data_dir)
    match = KEY_LINE.search(server.output())
    assert match, server.output()
    op = {"Authorization": f"Bearer {match.group(1)}"}
    a = make_tenant(server, op, "Acme Robotics", "acme")
    b = make_tenant(server, op, "Globex Energy", "globex")
    return server, Live(server.url, a, b)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server, world = start_live(tmp_path_factory.mktemp("mcp") / "data")
    try:
        yield world
    finally:
        server.stop()


@asynccontextmanager
async def stdio(url: str, key: str) -> AsyncIterator[Client]:
    """The SDK client talking to an `enclave mcp` child process."""
    command = StdioServerParameters(command=str(ENCLAVE), args=["mcp", "--url", url, "--key", key])
    async with Client(command) as client:
        yield client


def body(result: CallToolResult) -> Any:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return json.loads(block.text)


async def test_tools_over_stdio_see_only_the_keys_tenant(live: Live) -> None:
    for own, other in ((live.a, live.b), (live.b, live.a)):
        async with stdio(live.url, own.reader) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            found = await client.call_tool("search", {"query": "handbook", "top_k": 5})
            chunk = await client.call_tool("get_chunk", {"chunk_id": own.chunk_id})
            listed = await client.call_tool("list_documents", {})
        assert names == {"search", "get_chunk", "list_documents"}
        assert found.structured_content == body(found)
        hits = body(found)["results"]
        assert hits
        assert {h["citation"]["document_id"] for h in hits} == {own.document_id}
        assert other.document_id not in json.dumps(body(found))
        assert body(chunk)["citation"]["document_id"] == own.document_id
        assert [d["id"] for d in body(listed)["documents"]] == [own.document_id]


async def test_another_tenants_chunk_answers_like_a_missing_one(live: Live) -> None:
    async with stdio(live.url, live.a.reader) as client:
        foreign = await client.call_tool("get_chunk", {"chunk_id": live.b.chunk_id})
        missing = await client.call_tool("get_chunk", {"chunk_id": str(uuid.uuid4())})
    assert foreign.is_error
    assert missing.is_error
    assert (
        body(foreign) == body(missing) == {"error": {"code": "not_found", "message": "not found"}}
    )


async def test_unknown_arguments_are_rejected_over_stdio(live: Live) -> None:
    async with stdio(live.url, live.a.reader) as client:
        widened = await client.call_tool(
            "search", {"query": "handbook", "filters": {"tenant_id": "x"}}
        )
        extra = await client.call_tool("search", {"query": "handbook", "collection": "b"})
        too_many = await client.call_tool("search", {"query": "handbook", "top_k": 500})
    for result in (widened, extra, too_many):
        assert result.is_error
        assert body(result)["error"]["code"] == "invalid_arguments"


async def test_a_bad_key_is_refused_on_every_call(live: Live) -> None:
    async with stdio(live.url, "ek_not-a-real-key") as client:
        result = await client.call_tool("search", {"query": "handbook"})
    assert result.is_error
    assert body(result)["error"]["code"] == "unauthenticated"
