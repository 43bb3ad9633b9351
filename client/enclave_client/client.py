"""A typed Python client of the HTTP API, sync (`Client`) and async (`AsyncClient`)."""

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from enclave_client import calls
from enclave_client.calls import Call, EnclaveError, Filter, Id
from enclave_client.models import (
    ChunkOut,
    DocumentList,
    DocumentOut,
    JobOut,
    ManifestEntry,
    Mode,
    Receipt,
    SearchOut,
    SearchReplay,
    SourceList,
    SourceOut,
    SyncFilesOut,
    SyncRunOut,
    UploadOut,
)

T = TypeVar("T")

__all__ = ["AsyncClient", "Client", "EnclaveError"]


class Client:
    """`Client(url, key)`; every call raises EnclaveError on an error answer."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 120.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={**calls.headers(key), **(headers or {})},
            timeout=timeout,
            transport=calls.RetryingTransport(transport or httpx.HTTPTransport(), retries),
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

    def _send(self, call: Call[T]) -> T:
        return call.parse(self._http.request(call.method, call.path, **call.options))

    def upload(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        tags: Sequence[str] = (),
        external_id: str | None = None,
    ) -> UploadOut:
        """Upload (name, bytes) pairs; names may carry a relative path."""
        return self._send(calls.upload(files, tags, external_id))

    def upload_paths(self, paths: Sequence[tuple[Path, str]], **options: Any) -> UploadOut:
        """Upload files from disk as (path, name to send)."""
        return self.upload([(name, path.read_bytes()) for path, name in paths], **options)

    def job(self, job_id: Id, *, wait: float = 0) -> JobOut:
        """A job's progress; with `wait` (up to 60 s), once it settles or `wait` passes."""
        return self._send(calls.job(job_id, wait))

    def wait_for_job(self, job_id: Id, *, timeout: float = 600) -> JobOut:
        """The job once it is `done` or `failed`; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            job = self.job(job_id, wait=max(0.0, min(calls.LONG_POLL_S, left)))
            if job.status in calls.SETTLED:
                return job
            if left <= 0:
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout:g} s")

    def delete_document(self, document_id: Id) -> Receipt:
        """Erase a document (every version's text, chunks, vectors and file): the receipt."""
        return self._send(calls.delete(f"/v1/documents/{document_id}", Receipt))

    def document(self, document_id: Id) -> DocumentOut:
        """A document's metadata and status."""
        return self._send(calls.get(f"/v1/documents/{document_id}", DocumentOut))

    def list_documents(
        self, *, status: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0
    ) -> DocumentList:
        """The tenant's documents, newest first."""
        return self._send(calls.documents(status, tag, limit, offset))

    def document_text(self, document_id: Id) -> str:
        """The canonical text that citation offsets index into."""
        return self._send(Call("GET", f"/v1/documents/{document_id}/text", calls.text_of))

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
        return self._send(calls.search(query, top_k, mode, filter, rerank))

    def replay_search(self, search_id: Id) -> SearchReplay:
        """What a past search returned, exactly."""
        return self._send(calls.get(f"/v1/searches/{search_id}", SearchReplay))

    def get_chunk(self, chunk_id: Id) -> ChunkOut:
        """One chunk's text and citation."""
        return self._send(calls.get(f"/v1/chunks/{chunk_id}", ChunkOut))

    def sources(self) -> SourceList:
        """The tenant's sources."""
        return self._send(calls.sources())

    def source(self, name: str) -> SourceOut:
        """One source, with its paths by status and its last run."""
        return self._send(calls.source(name))

    def start_sync(
        self,
        name: str,
        manifest: Sequence[ManifestEntry],
        *,
        prune: bool = True,
        dry_run: bool = False,
    ) -> SyncRunOut:
        """Start (or resume) a sync of `name` from its manifest; `needed` says what to upload."""
        return self._send(calls.start_sync(name, manifest, prune=prune, dry_run=dry_run))

    def sync_files(self, name: str, run_id: Id, files: Sequence[tuple[str, bytes]]) -> SyncFilesOut:
        """Upload files the run needs, as (path in the source, bytes)."""
        return self._send(calls.sync_files(name, run_id, files))

    def commit_sync(self, name: str, run_id: Id) -> SyncRunOut:
        """Apply the run's renames and erasures once every needed file was uploaded."""
        return self._send(calls.commit_sync(name, run_id))

    def sync_run(
        self, name: str, run_id: Id, *, entries: int = 1000, offset: int = 0
    ) -> SyncRunOut:
        """A run with its counts and a page of its entries."""
        return self._send(calls.sync_run(name, run_id, entries=entries, offset=offset))


class AsyncClient:
    """`AsyncClient(url, key)`: the same calls as `Client`, awaited."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 120.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={**calls.headers(key), **(headers or {})},
            timeout=timeout,
            transport=calls.RetryingTransport(transport or httpx.AsyncHTTPTransport(), retries),
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

    async def _send(self, call: Call[T]) -> T:
        return call.parse(await self._http.request(call.method, call.path, **call.options))

    async def upload(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        tags: Sequence[str] = (),
        external_id: str | None = None,
    ) -> UploadOut:
        """Upload (name, bytes) pairs; names may carry a relative path."""
        return await self._send(calls.upload(files, tags, external_id))

    async def job(self, job_id: Id, *, wait: float = 0) -> JobOut:
        """A job's progress; with `wait` (up to 60 s), once it settles or `wait` passes."""
        return await self._send(calls.job(job_id, wait))

    async def wait_for_job(self, job_id: Id, *, timeout: float = 600) -> JobOut:
        """The job once it is `done` or `failed`; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            job = await self.job(job_id, wait=max(0.0, min(calls.LONG_POLL_S, left)))
            if job.status in calls.SETTLED:
                return job
            if left <= 0:
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout:g} s")

    async def delete_document(self, document_id: Id) -> Receipt:
        """Erase a document (every version's text, chunks, vectors and file): the receipt."""
        return await self._send(calls.delete(f"/v1/documents/{document_id}", Receipt))

    async def document(self, document_id: Id) -> DocumentOut:
        """A document's metadata and status."""
        return await self._send(calls.get(f"/v1/documents/{document_id}", DocumentOut))

    async def list_documents(
        self, *, status: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0
    ) -> DocumentList:
        """The tenant's documents, newest first."""
        return await self._send(calls.documents(status, tag, limit, offset))

    async def document_text(self, document_id: Id) -> str:
        """The canonical text that citation offsets index into."""
        return await self._send(Call("GET", f"/v1/documents/{document_id}/text", calls.text_of))

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
        return await self._send(calls.search(query, top_k, mode, filter, rerank))

    async def replay_search(self, search_id: Id) -> SearchReplay:
        """What a past search returned, exactly."""
        return await self._send(calls.get(f"/v1/searches/{search_id}", SearchReplay))

    async def get_chunk(self, chunk_id: Id) -> ChunkOut:
        """One chunk's text and citation."""
        return await self._send(calls.get(f"/v1/chunks/{chunk_id}", ChunkOut))

    async def sources(self) -> SourceList:
        """The tenant's sources."""
        return await self._send(calls.sources())

    async def source(self, name: str) -> SourceOut:
        """One source, with its paths by status and its last run."""
        return await self._send(calls.source(name))

    async def start_sync(
        self,
        name: str,
        manifest: Sequence[ManifestEntry],
        *,
        prune: bool = True,
        dry_run: bool = False,
    ) -> SyncRunOut:
        """Start (or resume) a sync of `name` from its manifest; `needed` says what to upload."""
        return await self._send(calls.start_sync(name, manifest, prune=prune, dry_run=dry_run))

    async def sync_files(
        self, name: str, run_id: Id, files: Sequence[tuple[str, bytes]]
    ) -> SyncFilesOut:
        """Upload files the run needs, as (path in the source, bytes)."""
        return await self._send(calls.sync_files(name, run_id, files))

    async def commit_sync(self, name: str, run_id: Id) -> SyncRunOut:
        """Apply the run's renames and erasures once every needed file was uploaded."""
        return await self._send(calls.commit_sync(name, run_id))

    async def sync_run(
        self, name: str, run_id: Id, *, entries: int = 1000, offset: int = 0
    ) -> SyncRunOut:
        """A run with its counts and a page of its entries."""
        return await self._send(calls.sync_run(name, run_id, entries=entries, offset=offset))
