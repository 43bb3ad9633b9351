"""The agent tools: strict argument models, descriptions for a model to read, JSON schemas.

One source for the MCP server and for `GET /v1/tools/openai`; no tool takes a tenant,
a collection or a raw index filter: the caller's key decides what it can see.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from enclave_client.models import MAX_INT, ChunkOut, DocumentList, SearchOut, refuse_controls

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Args(BaseModel):
    """Tool arguments: unknown names are refused, so a typo cannot widen a query; so are
    control characters, as in the HTTP API."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        refuse_controls(data)
        return data


log = logging.getLogger("enclave_client.tools")


class Filters(Args):
    document_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=100,
        description="Search only these documents (ids from list_documents or a citation).",
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=50,
        description="Search only documents carrying at least one of these tags.",
    )
    media_types: list[Annotated[str, StringConstraints(max_length=128)]] = Field(
        default_factory=list,
        max_length=20,
        description='Search only these file types, e.g. "application/pdf", "text/markdown".',
    )
    created_after: datetime | None = Field(
        None, description="Only documents uploaded at or after this ISO 8601 time."
    )
    created_before: datetime | None = Field(
        None, description="Only documents uploaded before this ISO 8601 time."
    )


class SearchArgs(Args):
    query: Query = Field(description="What to look for, in natural language or exact words.")
    top_k: int = Field(5, ge=1, le=50, description="How many passages to return (1 to 50).")
    mode: Literal["hybrid", "dense", "sparse"] = Field(
        "hybrid",
        description="hybrid: best default; sparse: exact words, codes, names; "
        "dense: meaning and paraphrases.",
    )
    filter: Filters = Field(
        default_factory=Filters, description="Optional limits; all given limits apply together."
    )
    # Deprecated until 0.3: the old name of `filter`. Accepted, but not advertised in the
    # schema (a model would take it up), and logged when used.
    filters: SkipJsonSchema[Filters | None] = None

    @model_validator(mode="before")
    @classmethod
    def _one_filter(cls, data: Any) -> Any:
        """`filters` is read as `filter` (it stays unset); giving both is ambiguous."""
        if isinstance(data, dict) and "filters" in data:
            if "filter" in data:
                raise ValueError("give `filter` only (`filters` is its deprecated name)")
            log.warning("search: `filters` is deprecated (until 0.3); send `filter`")
            data = {**data, "filter": data["filters"]}
            del data["filters"]
        return data


class GetChunkArgs(Args):
    chunk_id: uuid.UUID = Field(description="The chunk_id of a search result.")


class ListDocumentsArgs(Args):
    status: Literal["queued", "processing", "ready", "failed", "superseded"] | None = Field(
        None, description="Only documents in this state; only ready ones are searchable."
    )
    tag: Tag | None = Field(None, description="Only documents carrying this tag.")
    limit: int = Field(20, ge=1, le=100, description="Documents per page (1 to 100).")
    offset: int = Field(
        0, ge=0, le=MAX_INT, description="Where the page starts: the previous next_offset."
    )


SEARCH_DESCRIPTION = """\
Search the organisation's own documents and return the passages that best answer `query`, \
best first. Each result has the passage `text`, a `score` (comparable only within one \
search), a `chunk_id` and a `citation`: document_id, filename, version, page_start and \
page_end, section, and the exact character span [char_start, char_end) of the passage in \
the document's extracted text. Cite answers by filename and page. The `search_id` identifies \
this search in the audit log. Use mode "hybrid" unless you need exact words (\"sparse\") \
or paraphrases (\"dense\"). An empty `results` list means nothing matched: rephrase or \
drop filters rather than guessing."""

GET_CHUNK_DESCRIPTION = """\
Fetch one passage by the `chunk_id` of a search result, with its full citation (document, \
pages, section, exact character span). Use it to re-read a passage before quoting it. An id \
that does not exist, or that this key cannot see, answers not_found."""

LIST_DOCUMENTS_DESCRIPTION = """\
List the documents this key can search, newest first: id, filename, media_type, status \
(only "ready" documents are searchable), tags, page and chunk counts, upload time. Use a \
document's `id` in search filter.document_ids to search inside it. When `next_offset` is \
not null, call again with that offset for the next page."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, description, argument model and result model."""

    name: str
    title: str
    description: str
    args: type[Args]
    result: type[BaseModel]

    def input_schema(self) -> dict[str, Any]:
        """The strict JSON schema of the arguments."""
        return json_schema(self.args)

    def output_schema(self) -> dict[str, Any]:
        """The JSON schema of the structured result."""
        return json_schema(self.result)


SEARCH = ToolSpec("search", "Search documents", SEARCH_DESCRIPTION, SearchArgs, SearchOut)
GET_CHUNK = ToolSpec("get_chunk", "Read a passage", GET_CHUNK_DESCRIPTION, GetChunkArgs, ChunkOut)
LIST_DOCUMENTS = ToolSpec(
    "list_documents", "List documents", LIST_DOCUMENTS_DESCRIPTION, ListDocumentsArgs, DocumentList
)
TOOLS = (SEARCH, GET_CHUNK, LIST_DOCUMENTS)
BY_NAME = {tool.name: tool for tool in TOOLS}


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema with every `$ref` inlined and no titles: easy for a model to read."""
    raw = model.model_json_schema()
    definitions = raw.pop("$defs", {})
    inlined: dict[str, Any] = _inline(raw, definitions)
    return inlined


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, definitions)
    # A string "title" is schema metadata; a "title" mapping would be a property's schema.
    return {
        key: _inline(value, definitions)
        for key, value in node.items()
        if not (key == "title" and isinstance(value, str))
    }


def openai_tools() -> list[dict[str, Any]]:
    """`search` and `get_chunk` in OpenAI's function-calling format (the `tools` parameter)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.input_schema(),
            },
        }
        for tool in (SEARCH, GET_CHUNK)
    ]


def explain(exc: ValidationError) -> str:
    """`where: what` for each problem, like the HTTP API's 422 messages."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
