"""The first stages of indexing, called directly: load what is leased, parse, stay in quota."""

import uuid

from api.services import Services
from ingest import leases, store
from ingest import pipeline as pipe
from retrieval.models import DocumentStatus
from tenancy import tenants
from tenancy.ids import TenantId
from tests.ingest.conftest import documents_of, receive

NOTES = [(f"note-{i}.txt", f"Maintenance note {i}: pump valve {i}.".encode()) for i in range(3)]


def _claimed(services: Services, owner: str) -> list[uuid.UUID]:
    return leases.claim(services.sessions, leases.Lease(owner), limit=50).ids


def test_only_documents_leased_to_the_worker_are_loaded(services: Services, acme: TenantId) -> None:
    receive(services, acme, NOTES)
    ids = _claimed(services, "w1")
    pipeline = services.worker.pipeline
    assert [s.id for s in pipe.load(pipeline, ids, "w1")] == ids
    assert pipe.load(pipeline, ids, "someone-else") == []


def test_a_file_that_does_not_parse_fails_alone(services: Services, acme: TenantId) -> None:
    receive(services, acme, [*NOTES[:2], ("empty.txt", b"   \n\n  ")])
    ids = _claimed(services, "w1")
    batch = pipe.prepare_batch(services.worker.pipeline, ids, owner="w1")
    assert len(batch.prepared) == 2
    store.store_batch(
        services.worker.pipeline, batch, pipe.embed_batch(services.worker.pipeline, batch)
    )
    states = {d.filename: (d.status, d.error) for d in documents_of(services, acme)}
    assert states["empty.txt"] == (DocumentStatus.FAILED, "empty.txt: no extractable text")
    assert states["note-0.txt"] == states["note-1.txt"] == (DocumentStatus.READY, None)


def test_the_chunk_quota_is_spent_across_one_batch(services: Services, acme: TenantId) -> None:
    with services.sessions.begin() as session:
        tenants.set_limits(session, acme, tenants.Limits(max_chunks=2))
    receive(services, acme, NOTES)
    ids = _claimed(services, "w1")
    batch = pipe.prepare_batch(services.worker.pipeline, ids, owner="w1")
    assert [p.source.id for p in batch.prepared] == ids[:2]
    failed = [d for d in documents_of(services, acme) if d.status == DocumentStatus.FAILED]
    assert [d.id for d in failed] == ids[2:]
    assert failed[0].error is not None
    assert "chunk quota" in failed[0].error
