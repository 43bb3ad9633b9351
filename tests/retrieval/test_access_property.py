"""Random documents x access lists x identities: a search, a list or a read returns exactly the
documents that identity may read, on both index backends (SQLite runs Qdrant Edge, PostgreSQL
runs qdrant-client)."""

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services import Services
from retrieval import documents
from retrieval import search as searching
from retrieval.models import Document
from retrieval.points import Mode
from tenancy.access import Access, Identity, caller_tokens, document_tokens, may_read
from tenancy.ids import TenantId
from tenancy.scope import Scope
from tests.ingest.conftest import make_tenant, receive

USERS = ("ana", "ben", "cem")
GROUPS = ("hr", "ops", "eng")
IDENTITIES: tuple[Identity | None, ...] = (
    None,
    Identity("ana", ("hr",)),
    Identity("ben", ("ops", "eng")),
    Identity("cem", ()),
    Identity("dan", ("sales",)),
)
MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")

ACCESS = st.one_of(
    st.none(),
    st.builds(
        Access,
        users=st.lists(st.sampled_from(USERS), max_size=2, unique=True).map(tuple),
        groups=st.lists(st.sampled_from(GROUPS), max_size=2, unique=True).map(tuple),
    ),
)


def _indexed(services: Services, accesses: list[Access | None]) -> tuple[TenantId, list[str]]:
    tenant = make_tenant(services, f"prop-{uuid.uuid4().hex[:8]}")
    names = []
    for i, access in enumerate(accesses):
        name = f"doc{i}.txt"
        text = f"Quarterly pump report number {i}, page {uuid.uuid4().hex}."
        receive(services, tenant, [(name, text.encode())], access=access, access_set=True)
        names.append(name)
    services.worker.drain()
    return tenant, names


def _expected(accesses: list[Access | None], held: frozenset[str] | None) -> set[str]:
    return {f"doc{i}.txt" for i, a in enumerate(accesses) if may_read(held, document_tokens(a))}


def _seen(services: Services, tenant: TenantId, held: frozenset[str] | None) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    with services.sessions() as session:
        scope = Scope(session, tenant, access=held)
        for mode in MODES:
            request = searching.SearchRequest("quarterly pump report", top_k=50, mode=mode)
            hits = searching.find(scope, services.retriever, request)
            seen[mode] = {hit.citation.filename for hit in hits}
        listed = documents.list_documents(scope, documents.DocumentQuery(limit=200))
        seen["list"] = {doc.filename for doc in listed}
        every = Scope(session, tenant).all(Scope(session, tenant).select(Document))
        seen["read"] = {doc.filename for doc in every if scope.find(Document, doc.id)}
    return seen


@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(accesses=st.lists(ACCESS, min_size=1, max_size=6))
def test_every_read_path_returns_exactly_what_the_identity_may_read(
    services: Services, accesses: list[Access | None]
) -> None:
    tenant, _ = _indexed(services, accesses)
    for identity in IDENTITIES:
        held = caller_tokens(identity)
        expected = _expected(accesses, held)
        assert _seen(services, tenant, held) == dict.fromkeys([*MODES, "list", "read"], expected)
    everything = {f"doc{i}.txt" for i in range(len(accesses))}
    assert _seen(services, tenant, None) == dict.fromkeys([*MODES, "list", "read"], everything)
