"""A LangChain retriever over Enclave search (extra `langchain`: needs `langchain-core`)."""

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, SecretStr

from enclave_client.client import AsyncClient, Client
from enclave_client.models import Mode, SearchFilter, SearchHit, SearchOut


class EnclaveRetriever(BaseRetriever):
    """Passages from the key's tenant; each Document's metadata carries its exact citation."""

    url: str = Field(description="The Enclave server, e.g. http://127.0.0.1:8000.")
    key: SecretStr = Field(description="A reader (or admin) key: it decides the tenant.")
    top_k: int = Field(5, ge=1, le=50)
    mode: Mode = "hybrid"
    filter: SearchFilter | None = None
    timeout: float = 120.0

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        with Client(self.url, self.key.get_secret_value(), timeout=self.timeout) as client:
            found = client.search(query, top_k=self.top_k, mode=self.mode, filter=self.filter)
        return documents(found)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        async with AsyncClient(self.url, self.key.get_secret_value(), timeout=self.timeout) as c:
            found = await c.search(query, top_k=self.top_k, mode=self.mode, filter=self.filter)
        return documents(found)


def documents(found: SearchOut) -> list[Document]:
    """One LangChain Document per hit, best first."""
    return [
        Document(page_content=hit.text, id=str(hit.chunk_id), metadata=metadata(found, hit))
        for hit in found.results
    ]


def metadata(found: SearchOut, hit: SearchHit) -> dict[str, Any]:
    """The citation in full, plus the fields most chains read directly."""
    citation = hit.citation
    return {
        "source": citation.filename,
        "document_id": str(citation.document_id),
        "page": citation.page_start,
        "chunk_id": str(hit.chunk_id),
        "score": hit.score,
        "rank": hit.rank,
        "search_id": str(found.search_id),
        "citation": citation.model_dump(mode="json"),
    }
