"""GET /v1/tools/openai: the OpenAI function-calling schema of `search` and `get_chunk`."""

from typing import Any

import httpx

from enclave_client import tools


async def _tools(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/tools/openai")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()
    return data


async def test_lists_search_and_get_chunk_as_functions(client: httpx.AsyncClient) -> None:
    listed = await _tools(client)
    assert [t["type"] for t in listed] == ["function", "function"]
    assert [t["function"]["name"] for t in listed] == ["search", "get_chunk"]
    for tool in listed:
        function = tool["function"]
        assert set(function) == {"name", "description", "parameters"}
        assert function["parameters"]["type"] == "object"
        assert function["parameters"]["additionalProperties"] is False
        assert "$ref" not in str(function["parameters"])


async def test_search_parameters_match_the_mcp_tool(client: httpx.AsyncClient) -> None:
    search = (await _tools(client))[0]["function"]
    assert search["parameters"] == tools.SEARCH.input_schema()
    assert search["description"] == tools.SEARCH.description
    properties = search["parameters"]["properties"]
    assert search["parameters"]["required"] == ["query"]
    assert (properties["top_k"]["minimum"], properties["top_k"]["maximum"]) == (1, 50)
    assert properties["mode"]["enum"] == ["hybrid", "dense", "sparse"]
    assert properties["filter"]["additionalProperties"] is False
    assert "filters" not in properties  # its deprecated name is accepted, not advertised
    assert "tenant" not in str(search).lower()


async def test_get_chunk_takes_only_a_chunk_id(client: httpx.AsyncClient) -> None:
    get_chunk = (await _tools(client))[1]["function"]
    parameters = get_chunk["parameters"]
    assert parameters["required"] == ["chunk_id"]
    assert set(parameters["properties"]) == {"chunk_id"}
    assert parameters["properties"]["chunk_id"]["format"] == "uuid"


async def test_is_in_the_openapi_schema_and_mcp_is_not(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/v1/tools/openai" in paths
    assert "/mcp" not in paths
