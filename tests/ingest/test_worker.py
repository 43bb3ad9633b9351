"""Ingestion workers: heartbeats keep leases, a running worker overlaps its stages, and a
restarted embedded worker resumes what a crash interrupted."""

import time

import httpx

from api.services import Services
from ingest import leases
from ingest.worker import Heartbeat, Worker
from retrieval.models import DocumentStatus
from tenancy.ids import TenantId
from tests.factories import search
from tests.ingest.conftest import (
    chunk_ids,
    documents_by_id,
    documents_of,
    queued_over_http,
    receive,
)


async def test_heartbeats_keep_a_long_batch_leased(
    client: httpx.AsyncClient, services: Services
) -> None:
    _, ids = await queued_over_http(client, 2)
    short = leases.Lease("slow", seconds=0.3)
    claimed = leases.claim(services.sessions, short, limit=10)
    heartbeat = Heartbeat(services.worker.pipeline, short)
    with heartbeat.holding(claimed.ids):
        time.sleep(1.0)  # more than three leases long
        rival = leases.claim(services.sessions, leases.Lease("rival"), limit=10)
    heartbeat.stop()
    assert rival.ids == []
    assert {d.lease_owner for d in documents_by_id(services, ids)} == {"slow"}


async def test_a_running_worker_indexes_batches_back_to_back_and_stops_cleanly(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme, ids = await queued_over_http(client, 50)  # four batches: parsing overlaps embedding
    worker = Worker(services.worker.pipeline, lease=leases.Lease("runner"), idle_seconds=0.05)
    worker.start()
    deadline = time.monotonic() + 60
    while {d.status for d in documents_by_id(services, ids)} != {"ready"}:
        assert time.monotonic() < deadline, "the worker did not index everything"
        time.sleep(0.05)
    worker.stop()
    docs = documents_by_id(services, ids)
    assert {(d.attempts, d.lease_owner) for d in docs} == {(1, None)}
    assert len(chunk_ids(services, ids)) == sum(d.chunk_count for d in docs)
    hits = (await search(client, acme.reader, "maintenance pump valve", top_k=50)).json()
    assert len(hits["results"]) == 50


def test_the_embedded_worker_resumes_work_a_crash_left_in_processing(
    services: Services, acme: TenantId
) -> None:
    receive(services, acme, [("memo.txt", b"The pump valve is inspected every week.")])
    # A worker claimed it and died with the process: the document is stuck in `processing`.
    (claimed,) = leases.claim(services.sessions, leases.Lease("gone", seconds=3600), limit=5).ids
    worker = Worker(services.worker.pipeline, lease=leases.Lease("restarted"), idle_seconds=0.05)
    worker.start()  # the embedded worker is the only one: everything `processing` is orphaned
    deadline = time.monotonic() + 30
    while documents_of(services, acme)[0].status != DocumentStatus.READY:
        assert time.monotonic() < deadline, "the interrupted document was not resumed"
        time.sleep(0.05)
    worker.stop()
    (doc,) = documents_of(services, acme)
    assert (doc.id, doc.attempts, doc.lease_owner) == (claimed, 2, None)
    assert services.index.count(acme, claimed) == doc.chunk_count == 1
