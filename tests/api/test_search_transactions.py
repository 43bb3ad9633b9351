"""A search's transactions (`api.transaction`): its key check and its read phase share one
read-only transaction (with a snapshot renewed for the read phase, see
`tests/api/test_search_snapshot.py`); its writes come after, in a write transaction."""

import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Connection, event

from api.services import Services
from tenancy import sqlite
from tests.api.conftest import World
from tests.factories import auth, search

# Threads that open transactions of their own while a test runs.
BACKGROUND = ("enclave-worker", "enclave-anchor", "enclave-heartbeat")


class Begins:
    """Transactions begun on an engine by requests, read-only or not."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reads = self.writes = 0

    def __call__(self, connection: Connection) -> None:
        if threading.current_thread().name.startswith(BACKGROUND):
            return
        with self.lock:
            if connection.get_execution_options().get(sqlite.READ_ONLY):
                self.reads += 1
            else:
                self.writes += 1


@pytest.fixture
def begins(services: Services) -> Iterator[Begins]:
    counter = Begins()
    event.listen(services.engine, "begin", counter)
    yield counter
    event.remove(services.engine, "begin", counter)


async def test_a_search_opens_one_read_and_one_write_transaction(
    client: httpx.AsyncClient, world: World, begins: Begins
) -> None:
    for n in range(3):
        response = await search(client, world.a.keys.reader, f"handbook {n}")
        assert response.status_code == 200
        assert response.json()["results"]
    assert (begins.reads, begins.writes) == (3, 3)


async def test_another_route_ends_its_key_check_before_its_work(
    client: httpx.AsyncClient, world: World, begins: Begins
) -> None:
    response = await client.get("/v1/documents", headers=auth(world.a.keys.reader))
    assert response.status_code == 200
    assert (begins.reads, begins.writes) == (1, 1)  # the key check; the route and its audit


async def test_a_search_refused_after_its_key_check_ends_its_transaction_and_is_audited(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    bad = await client.post(
        "/v1/search", json={"query": "x", "top_k": 99}, headers=auth(world.a.keys.reader)
    )
    assert bad.status_code == 422
    assert services.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    audit = await client.get("/v1/audit", headers=auth(world.a.keys.admin))
    refused = [e for e in audit.json()["events"] if e["action"] == "search"]
    assert refused[-1]["outcome"] == "invalid_request"
    good = await search(client, world.a.keys.reader, "handbook")
    assert good.status_code == 200
    assert good.json()["results"]


async def test_the_service_checkpoints_sqlites_wal_in_the_background(services: Services) -> None:
    running = {t.name for t in threading.enumerate() if t.is_alive()}
    if services.engine.dialect.name == "sqlite":
        assert services.checkpointer is not None
        assert "sqlite-checkpoint" in running
    else:
        assert services.checkpointer is None
