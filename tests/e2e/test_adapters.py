"""The LangChain retriever and the Pydantic AI tools against a live `enclave serve`."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from enclave_client import tools
from enclave_client.adapters.langchain import EnclaveRetriever
from enclave_client.adapters.pydantic_ai import enclave_tools
from enclave_client.client import Client
from enclave_client.models import SearchFilter
from tests.e2e.test_mcp_stdio import Live, start_live

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server, world = start_live(tmp_path_factory.mktemp("adapters") / "data")
    try:
        yield world
    finally:
        server.stop()


def test_langchain_documents_carry_their_citation(live: Live) -> None:
    retriever = EnclaveRetriever(url=live.url, key=live.a.reader, top_k=3)
    documents = retriever.invoke("handbook reference code")
    assert documents
    with Client(live.url, live.a.reader) as client:
        text = client.document_text(live.a.document_id)
    for document in documents:
        citation = document.metadata["citation"]
        assert citation["document_id"] == live.a.document_id
        assert text[citation["char_start"] : citation["char_end"]] == document.page_content
        assert document.metadata["source"] == citation["filename"] == "handbook.md"
        assert document.id == document.metadata["chunk_id"]
        uuid.UUID(document.metadata["search_id"])
    assert "ek_" not in repr(retriever)


async def test_langchain_async_and_filters_stay_in_the_keys_tenant(live: Live) -> None:
    own = EnclaveRetriever(url=live.url, key=live.b.reader, mode="sparse")
    documents = await own.ainvoke("handbook")
    assert {d.metadata["document_id"] for d in documents} == {live.b.document_id}
    other = SearchFilter(document_ids=[uuid.UUID(live.a.document_id)])
    probing = EnclaveRetriever(url=live.url, key=live.b.reader, filter=other)
    assert await probing.ainvoke("handbook") == []


def test_pydantic_ai_tools_share_the_mcp_schemas() -> None:
    listed = {t.name: t.tool_def for t in enclave_tools("http://unused", "ek_unused")}
    assert set(listed) == {"search", "get_chunk"}
    assert listed["search"].parameters_json_schema == tools.SEARCH.input_schema()
    assert listed["search"].description == tools.SEARCH.description


def _scripted(calls: list[tuple[str, dict[str, Any]]]) -> FunctionModel:
    """A model that makes `calls` in turn, then answers with the last tool result as text."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = sum(isinstance(m, ModelResponse) for m in messages)
        if step < len(calls):
            name, args = calls[step]
            return ModelResponse(parts=[ToolCallPart(tool_name=name, args=args)])
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        returned = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        return ModelResponse(parts=[TextPart(json.dumps(returned[-1].content))])

    return FunctionModel(respond)


async def test_pydantic_ai_agent_searches_then_reads_a_chunk(live: Live) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("search", {"query": "handbook reference code", "top_k": 2}),
        ("get_chunk", {"chunk_id": live.a.chunk_id}),
    ]
    agent = Agent(_scripted(calls), tools=enclave_tools(live.url, live.a.reader))
    result = await agent.run("What is the handbook's reference code?")
    chunk = json.loads(result.output)
    assert chunk["chunk_id"] == live.a.chunk_id
    assert chunk["citation"]["document_id"] == live.a.document_id


async def test_pydantic_ai_asks_the_model_to_fix_bad_arguments(live: Live) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("search", {"query": "handbook", "tenant_id": str(uuid.uuid4())}),
        ("get_chunk", {"chunk_id": live.b.chunk_id}),
        ("search", {"query": "handbook", "filters": {"tags": []}}),
    ]
    agent = Agent(_scripted(calls), tools=enclave_tools(live.url, live.a.reader))
    result = await agent.run("Find the handbook.")
    found = json.loads(result.output)
    assert {h["citation"]["document_id"] for h in found["results"]} == {live.a.document_id}
    retries = [
        str(part.content)
        for message in result.all_messages()
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.outcome == "retried"
    ]
    assert any("tenant_id: Extra inputs are not permitted" in r for r in retries), retries
    assert any("not_found: not found" in r for r in retries), retries
