"""A typed Python client of the HTTP API, sync (`Client`) and async (`AsyncClient`)."""

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx
from pydantic import BaseModel

from enclave_client.models import (
    ChunkOut,
    DocumentList,
    DocumentOut,
    JobOut,
    Mode,
    SearchFilter,
    SearchOut,
    SearchReplay,
    UploadOut,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Id = str | uuid.UUID
Filter = SearchFilter | Mapping[str, Any] | None


class EnclaveError(Exception):
    """An error answer from the server: status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One HTTP exchange: the request to send and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    options: dict[str, Any] = field(default_factory=dict)


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate(_ok(response))


def _text(response: httpx.Response) -> str:
    _ok(response, as_json=False)
    return response.text


def _upload(
    files: Sequence[tuple[str, bytes]], tags: Sequence[str], external_id: str | None
) -> _Call[UploadOut]:
    meta = json.dumps({"tags": list(tags), "external_id": external_id})
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    return _Call(
        "POST", "/v1/documents", _model(UploadOut), {"files": parts, "data": {"metadata": meta}}
    )


def _documents(status: str | None, tag: str | None, limit: int, offset: int) -> _Call[DocumentList]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    params.update({k: v for k, v in (("status", status), ("tag", tag)) if v is not None})
    return _Call("GET", "/v1/documents", _model(DocumentList), {"params": params})


def _search(query: str, top_k: int, mode: Mode, flt: Filter, rerank: bool) -> _Call[SearchOut]:
    body: dict[str, Any] = {"query": query, "top_k": top_k, "mode": mode, "rerank": rerank}
    if isinstance(flt, SearchFilter):
        body["filter"] = flt.model_dump(mode="json", exclude_defaults=True)
    elif flt is not None:
        body["filter"] = dict(flt)
    return _Call("POST", "/v1/search", _model(SearchOut), {"json": body})


def _get(path: str, model: type[M]) -> _Call[M]:
    return _Call("GET", path, _model(model))


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Client:
    """`Client(url, key)`; every call raises EnclaveError on an error answer."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=_headers(key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close connections."""
        self._http.close()

    def _send(self, call: _Call[T]) -> T:
        return call.parse(self._http.request(call.method, call.path, **call.options))

    def upload(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        tags: Sequence[str] = (),
        external_id: str | None = None,
    ) -> UploadOut:
        """Upload (name, bytes) pairs; names may carry a relative path."""
        return self._send(_upload(files, tags, external_id))

    def upload_paths(self, paths: Sequence[tuple[Path, str]], **options: Any) -> UploadOut:
        """Upload files from disk as (path, name to send)."""
        return self.upload([(name, path.read_bytes()) for path, name in paths], **options)

    def job(self, job_id: Id) -> JobOut:
        """A job's progress."""
        return self._send(_get(f"/v1/jobs/{job_id}", JobOut))

    def document(self, document_id: Id) -> DocumentOut:
        """A document's metadata and status."""
        return self._send(_get(f"/v1/documents/{document_id}", DocumentOut))

    def list_documents(
        self, *, status: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0
    ) -> DocumentList:
        """The tenant's documents, newest first."""
        return self._send(_documents(status, tag, limit, offset))

    def document_text(self, document_id: Id) -> str:
        """The canonical text that citation offsets index into."""
        return self._send(_Call("GET", f"/v1/documents/{document_id}/text", _text))

    def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        mode: Mode = "hybrid",
        filter: Filter = None,
        rerank: bool = False,
    ) -> SearchOut:
        """Search the key's tenant."""
        return self._send(_search(query, top_k, mode, filter, rerank))

    def replay_search(self, search_id: Id) -> SearchReplay:
        """What a past search returned, exactly."""
        return self._send(_get(f"/v1/searches/{search_id}", SearchReplay))

    def get_chunk(self, chunk_id: Id) -> ChunkOut:
        """One chunk's text and citation."""
        return self._send(_get(f"/v1/chunks/{chunk_id}", ChunkOut))


class AsyncClient:
    """`AsyncClient(url, key)`: the same calls as `Client`, awaited."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=_headers(key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections."""
        await self._http.aclose()

    async def _send(self, call: _Call[T]) -> T:
        return call.parse(await self._http.request(call.method, call.path, **call.options))

    async def upload(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        tags: Sequence[str] = (),
        external_id: str | None = None,
    ) -> UploadOut:
        """Upload (name, bytes) pairs; names may carry a relative path."""
        return await self._send(_upload(files, tags, external_id))

    async def job(self, job_id: Id) -> JobOut:
        """A job's progress."""
        return await self._send(_get(f"/v1/jobs/{job_id}", JobOut))

    async def document(self, document_id: Id) -> DocumentOut:
        """A document's metadata and status."""
        return await self._send(_get(f"/v1/documents/{document_id}", DocumentOut))

    async def list_documents(
        self, *, status: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0
    ) -> DocumentList:
        """The tenant's documents, newest first."""
        return await self._send(_documents(status, tag, limit, offset))

    async def document_text(self, document_id: Id) -> str:
        """The canonical text that citation offsets index into."""
        return await self._send(_Call("GET", f"/v1/documents/{document_id}/text", _text))

    async def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        mode: Mode = "hybrid",
        filter: Filter = None,
        rerank: bool = False,
    ) -> SearchOut:
        """Search the key's tenant."""
        return await self._send(_search(query, top_k, mode, filter, rerank))

    async def replay_search(self, search_id: Id) -> SearchReplay:
        """What a past search returned, exactly."""
        return await self._send(_get(f"/v1/searches/{search_id}", SearchReplay))

    async def get_chunk(self, chunk_id: Id) -> ChunkOut:
        """One chunk's text and citation."""
        return await self._send(_get(f"/v1/chunks/{chunk_id}", ChunkOut))


def _ok(response: httpx.Response, *, as_json: bool = True) -> Any:
    if response.status_code < 400:
        return response.json() if as_json else None
    try:
        error = response.json()["error"]
        raise EnclaveError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        raise EnclaveError(response.status_code, "error", response.text[:200]) from None
