"""A search resolves its index hits against the database as it is after the index query, not
as it was at the key check: a version switch, or an erasure, that commits in between still
answers with one version (or none of an erased document), never a mix or a gap."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import update

from api.services import Services
from retrieval.models import Document, DocumentStatus
from tests.api.conftest import World
from tests.factories import fixture_file, ingest, make_tenant, search, upload

QUERY = "handbook reference code"


class _Between:
    """The service's disk, which runs `action` once at the search's disk check: after the key
    check, before the index query."""

    def __init__(self, real: Any, action: Callable[[], object]) -> None:
        self.real, self.action, self.fired = real, action, False

    def check_floor(self) -> None:
        if not self.fired:
            self.fired = True
            self.action()
        self.real.check_floor()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_a_version_switch_between_key_check_and_index_query_keeps_the_hits(
    client: httpx.AsyncClient, services: Services
) -> None:
    keys = await make_tenant(client, "Versioned")
    name, data = fixture_file("acme", "handbook.md")
    job = await ingest(client, services, keys.admin, [(name, data)], {"external_id": "hb"})
    assert job["status"] == "done"
    assert (await search(client, keys.reader, QUERY, mode="dense")).json()["results"]
    again = [(name, data + b"\n\nA new paragraph.\n")]
    assert (await upload(client, keys.admin, again, {"external_id": "hb"})).status_code == 202
    real = services.disk
    services.disk = _Between(real, services.worker.drain)  # type: ignore[assignment]
    try:
        during = await search(client, keys.reader, QUERY, mode="dense")
    finally:
        services.disk = real
    assert during.status_code == 200
    versions = {hit["citation"]["version"] for hit in during.json()["results"]}
    assert versions == {2}  # the switch committed before the index query: only the new one


async def test_an_erasure_between_key_check_and_index_query_hides_the_document(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    def erase() -> None:
        with services.sessions() as other:
            document = uuid.UUID(world.a.document_id)
            status = {"status": DocumentStatus.ERASING}
            other.execute(update(Document).where(Document.id == document).values(**status))
            other.commit()

    assert (await search(client, world.a.keys.reader, QUERY, mode="dense")).json()["results"]
    real = services.disk
    services.disk = _Between(real, erase)  # type: ignore[assignment]
    try:
        during = await search(client, world.a.keys.reader, QUERY, mode="dense")
    finally:
        services.disk = real
    assert during.status_code == 200
    cited = {hit["citation"]["document_id"] for hit in during.json()["results"]}
    assert world.a.document_id not in cited
