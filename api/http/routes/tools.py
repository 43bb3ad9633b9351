"""Tool schemas for agent frameworks that call functions instead of speaking MCP."""

from typing import Any

from fastapi import APIRouter

from enclave_client import tools

router = APIRouter(tags=["tools"])


@router.get("/v1/tools/openai", name="tools.openai")
def openai_tools() -> list[dict[str, Any]]:
    """`search` and `get_chunk` as OpenAI function-calling tools (pass the list as `tools`)."""
    return tools.openai_tools()
