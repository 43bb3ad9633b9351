"""Ingestion called directly, on the app's real services (no HTTP in between)."""

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.services import Services
from ingest import upload
from ingest.upload import IncomingFile, Queued, UploadOptions
from retrieval.models import Chunk, Document
from tenancy import tenants
from tenancy.ids import TenantId
from tenancy.scope import Scope
from tests import factories
from tests.factories import TenantKeys


def make_tenant(services: Services, name: str) -> TenantId:
    """A tenant made by the domain, committed."""
    with services.sessions.begin() as session:
        return TenantId(tenants.create(session, name=name).id)


def receive(
    services: Services, tenant: TenantId, files: Sequence[tuple[str, bytes]], **options: Any
) -> Queued:
    """`upload.receive` in its own committed transaction."""
    incoming = [IncomingFile(name, data) for name, data in files]
    with services.sessions.begin() as session:
        return upload.receive(
            Scope(session, tenant), services.blobs, incoming, UploadOptions(**options)
        )


def documents_of(services: Services, tenant: TenantId) -> list[Document]:
    """The tenant's documents, oldest first."""
    with services.sessions() as session:
        scope = Scope(session, tenant)
        return scope.all(scope.select(Document).order_by(Document.created_at))


def notes(count: int) -> list[tuple[str, bytes]]:
    """`count` short maintenance notes as (filename, bytes)."""
    return [
        (f"note-{i}.txt", f"Maintenance note {i}: the pump {i} valve.".encode())
        for i in range(count)
    ]


async def queued_over_http(
    client: httpx.AsyncClient, count: int
) -> tuple[TenantKeys, list[uuid.UUID]]:
    """A tenant made and `count` notes uploaded through the API; the documents' ids."""
    acme = await factories.make_tenant(client, "Acme")
    response = await factories.upload(client, acme.admin, notes(count))
    assert response.status_code == 202, response.text
    return acme, [uuid.UUID(d["id"]) for d in response.json()["documents"]]


def documents_by_id(services: Services, ids: list[uuid.UUID]) -> list[Document]:
    """These documents, whatever their tenant (tests only)."""
    with services.sessions() as session:
        return list(session.scalars(select(Document).where(Document.id.in_(ids))))


def chunk_ids(services: Services, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The ids of these documents' chunk rows, sorted."""
    with services.sessions() as session:
        query = select(Chunk.id).where(Chunk.document_id.in_(ids)).order_by(Chunk.id)
        return list(session.scalars(query))


@pytest.fixture
def acme(services: Services) -> TenantId:
    """Tenant A."""
    return make_tenant(services, "Acme")


@pytest.fixture
def globex(services: Services) -> TenantId:
    """Tenant B."""
    return make_tenant(services, "Globex")
