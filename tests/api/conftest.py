"""A two-tenant world: each tenant has keys, an indexed document, a job, a search."""

from dataclasses import dataclass

import httpx
import pytest

from api.services import Services
from tests.factories import TenantKeys, auth, fixture_file, ingest, make_tenant, search


@dataclass(frozen=True)
class Side:
    """One tenant's keys and the ids of its objects."""

    keys: TenantKeys
    document_id: str
    job_id: str
    chunk_id: str
    search_id: str


@dataclass(frozen=True)
class World:
    """Tenant A (Acme) and tenant B (Globex)."""

    a: Side
    b: Side


async def _side(client: httpx.AsyncClient, services: Services, name: str, folder: str) -> Side:
    keys = await make_tenant(client, name)
    job = await ingest(client, services, keys.admin, [fixture_file(folder, "handbook.md")])
    assert job["status"] == "done", job
    found = await search(client, keys.reader, "handbook reference code", mode="dense")
    assert found.status_code == 200, found.text
    body = found.json()
    return Side(
        keys=keys,
        document_id=job["documents"][0]["id"],
        job_id=job["id"],
        chunk_id=body["results"][0]["chunk_id"],
        search_id=body["search_id"],
    )


@pytest.fixture
async def world(client: httpx.AsyncClient, services: Services) -> World:
    """Two tenants with one indexed handbook each."""
    a = await _side(client, services, "Acme Robotics", "acme")
    b = await _side(client, services, "Globex Energy", "globex")
    return World(a, b)


__all__ = ["World", "auth"]
