"""Erasure, called directly: nothing of an erased document or tenant stays, nothing else goes."""

import pytest

from api.services import Services
from ingest import erasure
from retrieval import replay
from retrieval import search as searching
from retrieval.models import Chunk, SearchRecord
from tenancy import tenants
from tenancy.errors import NotFound
from tenancy.ids import TenantId
from tenancy.models import ApiKey
from tenancy.scope import Scope
from tests.ingest.conftest import documents_of, receive

MEMO = ("memo.txt", b"The pump valve is inspected every week.")


def _indexed(services: Services, tenant: TenantId, files: list[tuple[str, bytes]]) -> None:
    receive(services, tenant, files)
    services.worker.drain()


def _erase(services: Services, tenant: TenantId, document_id: object) -> erasure.Receipt:
    with services.sessions() as session:  # the intent commits mid-way, as a request's does
        scope = Scope(session, tenant)
        receipt = erasure.delete_document(
            scope,
            services.index,
            services.blobs,
            document_id,  # type: ignore[arg-type]
            intent=session.commit,
        )
        session.commit()
        return receipt


def _search(services: Services, tenant: TenantId, query: str) -> SearchRecord:
    with services.sessions.begin() as session:
        scope = Scope(session, tenant)
        request = searching.SearchRequest(query)
        return searching.keep(
            scope, searching.search(scope, services.retriever, request, key_id=None).record
        )


def test_an_erased_document_leaves_no_row_chunk_vector_or_blob(
    services: Services, acme: TenantId
) -> None:
    _indexed(services, acme, [MEMO])
    (doc,) = documents_of(services, acme)
    recorded = _search(services, acme, "pump valve")
    receipt = _erase(services, acme, doc.id)
    assert (receipt.documents, receipt.chunks, receipt.vectors, receipt.blobs) == (1, 1, 1, 1)
    assert receipt.redacted_searches == 1
    assert documents_of(services, acme) == []
    assert services.index.count(acme) == 0
    assert not services.blobs.path(acme, doc.sha256).exists()
    with services.sessions() as session:
        scope = Scope(session, acme)
        assert scope.count(Chunk) == 0
        (hit,) = replay.replay(scope, recorded.id).results
        assert (hit["text"], hit["deleted"]) == (None, True)
        assert hit["citation"]["chunk_sha256"]


def test_another_tenants_document_is_not_found_and_stays(
    services: Services, acme: TenantId, globex: TenantId
) -> None:
    _indexed(services, globex, [MEMO])
    (theirs,) = documents_of(services, globex)
    with pytest.raises(NotFound):
        _erase(services, acme, theirs.id)
    assert [d.id for d in documents_of(services, globex)] == [theirs.id]
    assert services.index.count(globex) == 1
    assert services.blobs.path(globex, theirs.sha256).exists()


def test_an_erased_tenant_leaves_nothing_and_the_other_tenant_everything(
    services: Services, acme: TenantId, globex: TenantId
) -> None:
    _indexed(services, acme, [MEMO, ("notes.txt", b"Second note about the turbine.")])
    _indexed(services, globex, [MEMO])
    _search(services, acme, "turbine")
    with services.sessions() as session:
        receipt = erasure.delete_tenant(
            session, services.index, services.blobs, acme, intent=session.commit
        )
        session.commit()
    assert (receipt.documents, receipt.chunks, receipt.vectors, receipt.searches) == (2, 2, 2, 1)
    with services.sessions() as session:
        with pytest.raises(NotFound):
            tenants.get(session, acme)
        for model in (Chunk, SearchRecord, ApiKey):
            assert Scope(session, acme).count(model) == 0
    assert services.index.count(acme) == 0
    assert len(documents_of(services, globex)) == 1
    assert services.index.count(globex) == 1
