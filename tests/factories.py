"""Helpers that drive the API the way a user would."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.services import Services
from tests.conftest import OPERATOR_KEY

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def auth(key: str) -> dict[str, str]:
    """The Authorization header for `key`."""
    return {"Authorization": f"Bearer {key}"}


OPERATOR = auth(OPERATOR_KEY)


@dataclass(frozen=True)
class TenantKeys:
    """A tenant made through the API, with one key of each tenant role."""

    id: str
    admin: str
    reader: str
    admin_key_id: str


async def make_tenant(client: httpx.AsyncClient, name: str) -> TenantKeys:
    """Create a tenant and issue an admin and a reader key, as the operator."""
    response = await client.post("/v1/tenants", json={"name": name}, headers=OPERATOR)
    assert response.status_code == 201, response.text
    tenant_id = response.json()["id"]
    admin = await _issue(client, tenant_id, "admin")
    reader = await _issue(client, tenant_id, "reader")
    return TenantKeys(tenant_id, admin["key"], reader["key"], admin["id"])


async def _issue(client: httpx.AsyncClient, tenant_id: str, role: str) -> dict[str, Any]:
    body = {"role": role, "name": f"{role} key"}
    response = await client.post(f"/v1/tenants/{tenant_id}/keys", json=body, headers=OPERATOR)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def upload(
    client: httpx.AsyncClient,
    key: str,
    files: list[tuple[str, bytes]],
    metadata: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST /v1/documents with `files` (name, bytes)."""
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    form = {"metadata": json.dumps(metadata)} if metadata is not None else None
    return await client.post("/v1/documents", files=parts, data=form, headers=auth(key))


async def ingest(
    client: httpx.AsyncClient,
    services: Services,
    key: str,
    files: list[tuple[str, bytes]],
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Upload and run the worker until the queue is empty; returns the job as the API shows it."""
    response = await upload(client, key, files, metadata)
    assert response.status_code == 202, response.text
    services.worker.drain()
    job = await client.get(f"/v1/jobs/{response.json()['job_id']}", headers=auth(key))
    assert job.status_code == 200, job.text
    data: dict[str, Any] = job.json()
    return data


def fixture_file(tenant: str, name: str) -> tuple[str, bytes]:
    """A fixture document as (filename, bytes)."""
    return name, (FIXTURES / tenant / name).read_bytes()


async def search(client: httpx.AsyncClient, key: str, query: str, **extra: Any) -> httpx.Response:
    """POST /v1/search."""
    return await client.post("/v1/search", json={"query": query, **extra}, headers=auth(key))
