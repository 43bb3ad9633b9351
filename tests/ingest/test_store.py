"""A batch turns `ready` in one transaction; if that fails, each document finishes on its own."""

import uuid
from collections.abc import Sequence

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.services import Services
from ingest import leases, store
from ingest import pipeline as pipe
from retrieval import documents
from retrieval.models import Chunk, Document
from tenancy.scope import Scope
from tests.factories import make_tenant, search, upload

FILES = [(f"note-{i}.txt", f"Maintenance note {i}: the pump {i} valve.".encode()) for i in range(3)]


async def _queued(client: httpx.AsyncClient) -> tuple[str, list[uuid.UUID]]:
    acme = await make_tenant(client, "Acme")
    response = await upload(client, acme.admin, FILES)
    assert response.status_code == 202, response.text
    return acme.reader, [uuid.UUID(d["id"]) for d in response.json()["documents"]]


def _states(services: Services, ids: list[uuid.UUID]) -> dict[str, tuple[str, int, str | None]]:
    with services.sessions() as session:
        docs = session.scalars(select(Document).where(Document.id.in_(ids)))
        return {d.filename: (d.status, _chunks(session, d.id), d.error) for d in docs}


def _chunks(session: Session, document_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(Chunk).where(Chunk.document_id == document_id)
    return session.scalar(query) or 0


async def test_a_batch_turns_ready_in_one_call(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = store._finish

    def counted(pipeline: pipe.Pipeline, items: Sequence[pipe.Prepared]) -> None:
        calls.append(len(items))
        real(pipeline, items)

    monkeypatch.setattr(store, "_finish", counted)
    _, ids = await _queued(client)
    assert services.worker.drain() == 3
    assert calls == [3]
    assert {state[:2] for state in _states(services, ids).values()} == {("ready", 1)}


async def test_when_the_batch_cannot_finish_each_document_finishes_alone(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = documents.ready

    def refuse_note_1(scope: Scope, doc: Document, indexed: documents.Indexed) -> object:
        if doc.filename == "note-1.txt":
            raise RuntimeError("this row cannot be written")
        return real(scope, doc, indexed)

    monkeypatch.setattr(documents, "ready", refuse_note_1)
    reader, ids = await _queued(client)
    assert services.worker.drain() == 3
    states = _states(services, ids)
    assert states["note-0.txt"] == states["note-2.txt"] == ("ready", 1, None)
    assert states["note-1.txt"] == ("failed", 0, "internal error while indexing (RuntimeError)")
    hits = (await search(client, reader, "pump valve", top_k=10)).json()["results"]
    assert sorted(h["citation"]["filename"] for h in hits) == ["note-0.txt", "note-2.txt"]


async def test_a_newer_version_earlier_in_the_batch_keeps_the_older_one_retired(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    ids = []
    for version in (1, 2):
        text = f"Pump policy version {version}: inspect the valve.".encode()
        response = await upload(
            client, acme.admin, [("policy.txt", text)], metadata={"external_id": "policy"}
        )
        ids.append(uuid.UUID(response.json()["documents"][0]["id"]))
    pipeline = services.worker.pipeline
    claimed = leases.claim(services.sessions, leases.Lease("w"), limit=10).ids
    assert sorted(claimed) == sorted(ids)
    store.process_batch(pipeline, [ids[1], ids[0]], owner="w")  # the newer one first
    with services.sessions() as session:
        docs = {d.version: d.status for d in session.scalars(select(Document))}
    assert docs == {1: "superseded", 2: "ready"}
    hits = (await search(client, acme.reader, "pump policy valve", top_k=10)).json()["results"]
    assert {h["citation"]["version"] for h in hits} == {2}
