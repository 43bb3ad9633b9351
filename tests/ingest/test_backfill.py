"""Points indexed before `access` joined their payload get it when a worker starts, once."""

from sqlalchemy import update

from api.services import Services
from ingest import backfill
from retrieval import search as searching
from retrieval.models import Document
from tenancy.ids import TenantId
from tenancy.scope import Scope
from tests.ingest.conftest import documents_of, receive


def _readers_find(services: Services, tenant: TenantId) -> list[str]:
    with services.sessions() as session:
        scope = Scope(session, tenant, access=frozenset({"*"}))
        request = searching.SearchRequest("quarterly pump report", top_k=10)
        return [hit.citation.filename for hit in searching.find(scope, services.retriever, request)]


def test_a_document_indexed_before_access_payloads_is_readable_again_after_the_backfill(
    services: Services, acme: TenantId
) -> None:
    receive(services, acme, [("report.txt", b"The quarterly pump report.")])
    services.worker.drain()
    (doc,) = documents_of(services, acme)
    # As a version-0 point: no access tokens in its payload, and its row says so.
    services.index.set_access(acme, doc.id, [])
    with services.sessions.begin() as session:
        session.execute(update(Document).values(payload_version=0))
    assert _readers_find(services, acme) == []  # fails closed, never open
    assert backfill.payloads(services.sessions, services.index) == 1
    assert _readers_find(services, acme) == ["report.txt"]
    assert backfill.payloads(services.sessions, services.index) == 0
