"""Workers sharing one queue: every document claimed once, dead workers' leases reclaimed."""

import threading
import time
import uuid

import httpx
from sqlalchemy import select

from api.services import Services
from ingest import leases
from ingest import pipeline as pipe
from ingest.worker import Heartbeat, Worker
from retrieval.models import Chunk, Document
from tests.factories import TenantKeys, auth, make_tenant, search, upload


def _texts(count: int) -> list[tuple[str, bytes]]:
    return [
        (f"note-{i}.txt", f"Maintenance note {i}: the pump {i} valve.".encode())
        for i in range(count)
    ]


async def _queued(client: httpx.AsyncClient, count: int) -> tuple[TenantKeys, list[uuid.UUID]]:
    acme = await make_tenant(client, "Acme")
    response = await upload(client, acme.admin, _texts(count))
    assert response.status_code == 202, response.text
    return acme, [uuid.UUID(d["id"]) for d in response.json()["documents"]]


def _documents(services: Services, ids: list[uuid.UUID]) -> list[Document]:
    with services.sessions() as session:
        return list(session.scalars(select(Document).where(Document.id.in_(ids))))


def _chunk_ids(services: Services, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    with services.sessions() as session:
        query = select(Chunk.id).where(Chunk.document_id.in_(ids)).order_by(Chunk.id)
        return list(session.scalars(query))


async def test_two_workers_index_every_document_exactly_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    _, ids = await _queued(client, 40)
    pipeline = services.worker.pipeline
    workers = [Worker(pipeline, lease=leases.Lease(f"w{i}")) for i in range(2)]
    counts: list[int] = []
    threads = [threading.Thread(target=lambda w=w: counts.append(w.drain())) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for worker in workers:
        worker.stop()
    docs = _documents(services, ids)
    assert sum(counts) == 40
    assert {d.status for d in docs} == {"ready"}
    assert {d.attempts for d in docs} == {1}
    assert all(d.lease_owner is None for d in docs)
    assert len(_chunk_ids(services, ids)) == sum(d.chunk_count for d in docs)


async def test_a_dead_workers_lease_expires_and_its_documents_are_reclaimed(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme, ids = await _queued(client, 3)
    dead = leases.Lease("dead", seconds=0.05)
    assert set(leases.claim(services.sessions, dead, limit=10).ids) == set(ids)
    time.sleep(0.1)
    assert services.worker.drain() == 3
    docs = _documents(services, ids)
    assert {(d.status, d.attempts) for d in docs} == {("ready", 2)}
    chunks = _chunk_ids(services, ids)
    # The dead worker wakes up and finishes its stale batch: its lease is gone, nothing changes.
    pipe.process_batch(pipeline=services.worker.pipeline, document_ids=ids, owner="dead")
    assert _chunk_ids(services, ids) == chunks
    assert {d.status for d in _documents(services, ids)} == {"ready"}
    hits = (await search(client, acme.reader, "pump valve", top_k=10)).json()["results"]
    assert len(hits) == 3


async def test_a_live_lease_is_left_alone_until_released(
    client: httpx.AsyncClient, services: Services
) -> None:
    _, ids = await _queued(client, 3)
    alive = leases.Lease("alive", seconds=60)
    leases.claim(services.sessions, alive, limit=10)
    assert services.worker.drain() == 0
    assert leases.renew(services.sessions, alive, ids) == 3
    assert leases.renew(services.sessions, leases.Lease("impostor"), ids) == 0
    assert {(d.status, d.lease_owner) for d in _documents(services, ids)} == {
        ("processing", "alive")
    }
    assert leases.release(services.sessions, alive, ids) == 3
    assert services.worker.drain() == 3
    assert {d.status for d in _documents(services, ids)} == {"ready"}


async def test_a_document_that_keeps_killing_workers_is_failed_with_a_reason(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme, ids = await _queued(client, 1)
    crashy = leases.Lease("crashy", seconds=0.01, max_attempts=2)
    for _ in range(2):  # two claims that never finish: their workers "died"
        assert leases.claim(services.sessions, crashy, limit=1).ids == ids
        time.sleep(0.05)
    worker = Worker(services.worker.pipeline, lease=crashy)
    assert worker.drain() == 1
    failed = await client.get("/v1/documents?status=failed", headers=auth(acme.admin))
    (doc,) = failed.json()["documents"]
    assert doc["id"] == str(ids[0])
    assert doc["error"] == "indexing was interrupted 2 times; giving up on this file"


async def test_heartbeats_keep_a_long_batch_leased(
    client: httpx.AsyncClient, services: Services
) -> None:
    _, ids = await _queued(client, 2)
    short = leases.Lease("slow", seconds=0.3)
    claimed = leases.claim(services.sessions, short, limit=10)
    heartbeat = Heartbeat(services.worker.pipeline, short)
    with heartbeat.holding(claimed.ids):
        time.sleep(1.0)  # more than three leases long
        rival = leases.claim(services.sessions, leases.Lease("rival"), limit=10)
    heartbeat.stop()
    assert rival.ids == []
    assert {d.lease_owner for d in _documents(services, ids)} == {"slow"}


async def test_a_running_worker_indexes_batches_back_to_back_and_stops_cleanly(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme, ids = await _queued(client, 50)  # four batches: parsing overlaps embedding
    worker = Worker(services.worker.pipeline, lease=leases.Lease("runner"), idle_seconds=0.05)
    worker.start()
    deadline = time.monotonic() + 60
    while {d.status for d in _documents(services, ids)} != {"ready"}:
        assert time.monotonic() < deadline, "the worker did not index everything"
        time.sleep(0.05)
    worker.stop()
    docs = _documents(services, ids)
    assert {(d.attempts, d.lease_owner) for d in docs} == {(1, None)}
    assert len(_chunk_ids(services, ids)) == sum(d.chunk_count for d in docs)
    hits = (await search(client, acme.reader, "maintenance pump valve", top_k=50)).json()
    assert len(hits["results"]) == 50
