"""The HTTP exchanges of the API as data: what to send and how to read the answer.

`Client` and `AsyncClient` send the same calls, one synchronously, the other awaited.
"""

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from httpx_retries import Retry, RetryTransport
from pydantic import BaseModel

from enclave_client.models import (
    DocumentList,
    JobOut,
    ManifestEntry,
    Mode,
    SearchFilter,
    SearchOut,
    SourceList,
    SourceOut,
    SyncFilesOut,
    SyncRunIn,
    SyncRunOut,
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
class Call(Generic[T]):
    """One HTTP exchange: the request to send and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    options: dict[str, Any] = field(default_factory=dict)


def model_of(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate(ok(response))


def text_of(response: httpx.Response) -> str:
    ok(response, as_json=False)
    return response.text


def upload(
    files: Sequence[tuple[str, bytes]], tags: Sequence[str], external_id: str | None
) -> Call[UploadOut]:
    meta = json.dumps({"tags": list(tags), "external_id": external_id})
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    return Call(
        "POST", "/v1/documents", model_of(UploadOut), {"files": parts, "data": {"metadata": meta}}
    )


def documents(status: str | None, tag: str | None, limit: int, offset: int) -> Call[DocumentList]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    params.update({k: v for k, v in (("status", status), ("tag", tag)) if v is not None})
    return Call("GET", "/v1/documents", model_of(DocumentList), {"params": params})


def search(query: str, top_k: int, mode: Mode, flt: Filter, rerank: bool) -> Call[SearchOut]:
    body: dict[str, Any] = {"query": query, "top_k": top_k, "mode": mode, "rerank": rerank}
    if isinstance(flt, SearchFilter):
        body["filter"] = flt.model_dump(mode="json", exclude_defaults=True)
    elif flt is not None:
        body["filter"] = dict(flt)
    return Call("POST", "/v1/search", model_of(SearchOut), {"json": body})


def get(path: str, model: type[M]) -> Call[M]:
    return Call("GET", path, model_of(model))


def delete(path: str, model: type[M]) -> Call[M]:
    return Call("DELETE", path, model_of(model))


LONG_POLL_S = 30.0  # one long poll's wait; the server allows up to 60
SETTLED = frozenset({"done", "failed"})


def job(job_id: Id, wait: float) -> Call[JobOut]:
    """GET /v1/jobs/{id}, long-polled for `wait` seconds; the read timeout covers the wait."""
    options: dict[str, Any] = {"params": {"wait": round(wait, 3)}} if wait > 0 else {}
    if wait > 0:
        options["timeout"] = httpx.Timeout(30.0, read=wait + 30.0)
    return Call("GET", f"/v1/jobs/{job_id}", model_of(JobOut), options)


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def retry(retries: int, *, idempotent: bool = True) -> Retry:
    """How to retry: 429 and 503 (Enclave refused the request and changed nothing; after its
    `Retry-After`) and a connection that never opened, for every method; an idempotent
    method also on 502, 504 and a dropped connection, where the server may have done the
    work. Exponential backoff in between."""
    statuses = [429, 502, 503, 504] if idempotent else [429, 503]
    failures = (
        [httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError]
        if idempotent
        else [httpx.ConnectError, httpx.ConnectTimeout]
    )
    return Retry(
        total=retries,
        allowed_methods=["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"],
        status_forcelist=statuses,
        retry_on_exceptions=failures,
        backoff_factor=0.5,
        respect_retry_after_header=True,
        max_backoff_wait=60.0,
    )


class RetryingTransport(RetryTransport):
    """httpx-retries' transport, with the policy of `retry` chosen by each request's method."""

    def __init__(
        self, transport: httpx.BaseTransport | httpx.AsyncBaseTransport, retries: int
    ) -> None:
        super().__init__(transport, retry(retries))
        self._unsafe = retry(retries, idempotent=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send with the method's policy."""
        self._choose(request)
        return super().handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send with the method's policy."""
        self._choose(request)
        return await super().handle_async_request(request)

    def _choose(self, request: httpx.Request) -> None:
        if request.method not in IDEMPOTENT:
            request.extensions.setdefault("retry", self._unsafe)


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ok(response: httpx.Response, *, as_json: bool = True) -> Any:
    if response.status_code < 400:
        return response.json() if as_json else None
    try:
        error = response.json()["error"]
        raise EnclaveError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        raise EnclaveError(response.status_code, "error", response.text[:200]) from None


def sources() -> Call[SourceList]:
    """GET /v1/sources."""
    return get("/v1/sources", SourceList)


def source(name: str) -> Call[SourceOut]:
    """GET /v1/sources/{name}."""
    return get(f"/v1/sources/{name}", SourceOut)


def start_sync(
    name: str, manifest: Sequence[ManifestEntry], *, prune: bool, dry_run: bool
) -> Call[SyncRunOut]:
    """POST /v1/sources/{name}/runs: the plan, and the files to upload."""
    body = SyncRunIn(manifest=list(manifest), prune=prune, dry_run=dry_run)
    options = {"json": body.model_dump(mode="json")}
    return Call("POST", f"/v1/sources/{name}/runs", model_of(SyncRunOut), options)


def sync_files(name: str, run_id: Id, files: Sequence[tuple[str, bytes]]) -> Call[SyncFilesOut]:
    """POST /v1/sources/{name}/runs/{id}/files: files named by their path in the source."""
    parts = [("files", (path, data, "application/octet-stream")) for path, data in files]
    path = f"/v1/sources/{name}/runs/{run_id}/files"
    return Call("POST", path, model_of(SyncFilesOut), {"files": parts})


def commit_sync(name: str, run_id: Id) -> Call[SyncRunOut]:
    """POST /v1/sources/{name}/runs/{id}/commit."""
    return Call("POST", f"/v1/sources/{name}/runs/{run_id}/commit", model_of(SyncRunOut))


def sync_run(name: str, run_id: Id, *, entries: int = 1000, offset: int = 0) -> Call[SyncRunOut]:
    """GET /v1/sources/{name}/runs/{id}."""
    params = {"entries": entries, "offset": offset}
    path = f"/v1/sources/{name}/runs/{run_id}"
    return Call("GET", path, model_of(SyncRunOut), {"params": params})
