"""Workers sharing one queue: every document claimed once, dead workers' leases reclaimed."""

import threading
import time

import httpx

from api.services import Services
from ingest import leases, store
from ingest.worker import Worker
from tests.factories import auth, search
from tests.ingest.conftest import chunk_ids, documents_by_id, queued_over_http


async def test_two_workers_index_every_document_exactly_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    _, ids = await queued_over_http(client, 40)
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
    docs = documents_by_id(services, ids)
    assert sum(counts) == 40
    assert {d.status for d in docs} == {"ready"}
    assert {d.attempts for d in docs} == {1}
    assert all(d.lease_owner is None for d in docs)
    assert len(chunk_ids(services, ids)) == sum(d.chunk_count for d in docs)


async def test_a_dead_workers_lease_expires_and_its_documents_are_reclaimed(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme, ids = await queued_over_http(client, 3)
    dead = leases.Lease("dead", seconds=0.05)
    assert set(leases.claim(services.sessions, dead, limit=10).ids) == set(ids)
    time.sleep(0.1)
    assert services.worker.drain() == 3
    docs = documents_by_id(services, ids)
    assert {(d.status, d.attempts) for d in docs} == {("ready", 2)}
    chunks = chunk_ids(services, ids)
    # The dead worker wakes up and finishes its stale batch: its lease is gone, nothing changes.
    store.process_batch(pipeline=services.worker.pipeline, document_ids=ids, owner="dead")
    assert chunk_ids(services, ids) == chunks
    assert {d.status for d in documents_by_id(services, ids)} == {"ready"}
    hits = (await search(client, acme.reader, "pump valve", top_k=10)).json()["results"]
    assert len(hits) == 3


async def test_a_live_lease_is_left_alone_until_released(
    client: httpx.AsyncClient, services: Services
) -> None:
    _, ids = await queued_over_http(client, 3)
    alive = leases.Lease("alive", seconds=60)
    leases.claim(services.sessions, alive, limit=10)
    assert services.worker.drain() == 0
    assert leases.renew(services.sessions, alive, ids) == 3
    assert leases.renew(services.sessions, leases.Lease("impostor"), ids) == 0
    assert {(d.status, d.lease_owner) for d in documents_by_id(services, ids)} == {
        ("processing", "alive")
    }
    assert leases.release(services.sessions, alive, ids) == 3
    assert services.worker.drain() == 3
    assert {d.status for d in documents_by_id(services, ids)} == {"ready"}


async def test_a_document_that_keeps_killing_workers_is_failed_with_a_reason(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme, ids = await queued_over_http(client, 1)
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


async def test_claims_take_the_tenants_in_turn(services: Services) -> None:
    """One tenant's 30 queued documents do not hold another's one document behind them."""
    from tests.ingest.conftest import make_tenant, notes, receive

    big, small = make_tenant(services, "Big"), make_tenant(services, "Small")
    receive(services, big, notes(30))
    [(_, lone)] = receive(services, small, [("alone.txt", b"One line of the small tenant.")]).items
    first = leases.claim(services.sessions, leases.Lease("fair"), limit=4)
    assert lone.id in first.ids
    assert len(first.ids) == 4
    # And the big tenant's own order is kept: its oldest three came with it.
    big_docs = [d for d in documents_by_id(services, first.ids) if d.tenant_id == big]
    assert len(big_docs) == 3


async def test_a_tenant_served_last_lets_another_go_first_within_a_turn(
    services: Services,
) -> None:
    """A big tenant's documents, each filling the byte budget, do not keep taking the turn
    from a small tenant that queued later."""
    from tests.ingest.conftest import make_tenant, receive

    big, small = make_tenant(services, "Big"), make_tenant(services, "Small")
    receive(
        services,
        big,
        [(f"big-{i}.txt", f"Big {i}. ".encode() + b"word " * 60_000) for i in range(3)],
    )
    worker = leases.Lease("fair-bytes")
    first = leases.claim(services.sessions, worker, limit=32, max_bytes=300_000)
    assert first.tenants == {big}
    assert len(first.ids) == 1
    [(_, lone)] = receive(services, small, [("alone.txt", b"One line of the small tenant.")]).items
    unfair = leases.claim(services.sessions, leases.Lease("plain"), limit=32, max_bytes=300_000)
    assert lone.id not in unfair.ids  # oldest first: the big tenant's next document wins
    served = leases.claim(
        services.sessions, worker, limit=32, max_bytes=300_000, served=first.tenants
    )
    assert served.ids == [lone.id]


async def test_a_batch_is_cut_at_its_byte_budget(services: Services) -> None:
    from tests.ingest.conftest import make_tenant, receive

    acme = make_tenant(services, "Acme")
    files = [(f"big-{i}.txt", (f"Report {i}. " + "word " * 60_000).encode()) for i in range(4)]
    receive(services, acme, files)
    first = leases.claim(services.sessions, leases.Lease("bytes"), limit=32, max_bytes=700_000)
    assert len(first.ids) == 2  # ~300 kB each: a third would pass the budget, it waits
    one = leases.claim(services.sessions, leases.Lease("bytes2"), limit=32, max_bytes=1)
    assert len(one.ids) == 1  # always at least one, however big
