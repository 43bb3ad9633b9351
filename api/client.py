"""A typed Python client of the HTTP API (sync), used by the CLI and by agents."""

import json
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from api.schemas import DocumentOut, JobOut, SearchOut, UploadOut


class EnclaveError(Exception):
    """An error answer from the server: status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class Client:
    """`Client(url, key)`; every call raises EnclaveError on an error answer."""

    def __init__(self, url: str, key: str, *, timeout: float = 120.0) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close connections."""
        self._http.close()

    def upload(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        tags: Sequence[str] = (),
        external_id: str | None = None,
    ) -> UploadOut:
        """Upload (name, bytes) pairs; names may carry a relative path."""
        meta = json.dumps({"tags": list(tags), "external_id": external_id})
        parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
        response = self._http.post("/v1/documents", files=parts, data={"metadata": meta})
        return UploadOut.model_validate(_ok(response))

    def upload_paths(self, paths: Sequence[tuple[Path, str]], **options: Any) -> UploadOut:
        """Upload files from disk as (path, name to send)."""
        return self.upload([(name, path.read_bytes()) for path, name in paths], **options)

    def job(self, job_id: str) -> JobOut:
        """A job's progress."""
        return JobOut.model_validate(_ok(self._http.get(f"/v1/jobs/{job_id}")))

    def document(self, document_id: str) -> DocumentOut:
        """A document's metadata and status."""
        return DocumentOut.model_validate(_ok(self._http.get(f"/v1/documents/{document_id}")))

    def search(
        self, query: str, *, top_k: int = 5, mode: str = "hybrid", **extra: Any
    ) -> SearchOut:
        """Search the key's tenant."""
        body = {"query": query, "top_k": top_k, "mode": mode, **extra}
        return SearchOut.model_validate(_ok(self._http.post("/v1/search", json=body)))


def _ok(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json()
    try:
        error = response.json()["error"]
        raise EnclaveError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        raise EnclaveError(response.status_code, "error", response.text[:200]) from None
