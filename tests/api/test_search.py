"""Search: cited results from the caller's tenant only, recorded for replay."""

import hashlib
import uuid
from dataclasses import replace

import httpx
import pytest

from api.services import Services
from retrieval.index import VectorIndex
from retrieval.points import IndexHit, IndexQuery
from tenancy.ids import TenantId
from tests.api.conftest import World
from tests.factories import auth, fixture_file, ingest, make_tenant, search

MODES = ["dense", "sparse", "hybrid"]


async def _text(client: httpx.AsyncClient, key: str, document_id: str) -> str:
    response = await client.get(f"/v1/documents/{document_id}/text", headers=auth(key))
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("mode", MODES)
async def test_every_hit_satisfies_the_citation_invariant(
    client: httpx.AsyncClient, world: World, mode: str
) -> None:
    response = await search(
        client, world.a.keys.reader, "safety on the robot floor", mode=mode, top_k=10
    )
    results = response.json()["results"]
    assert results
    for hit in results:
        citation = hit["citation"]
        text = await _text(client, world.a.keys.reader, citation["document_id"])
        assert text[citation["char_start"] : citation["char_end"]] == hit["text"]
        assert hashlib.sha256(hit["text"].encode()).hexdigest() == citation["chunk_sha256"]
        assert citation["filename"] == "handbook.md"
    assert [h["rank"] for h in results] == list(range(1, len(results) + 1))


@pytest.mark.parametrize("mode", MODES)
async def test_the_other_tenants_canary_is_never_found(
    client: httpx.AsyncClient, world: World, mode: str
) -> None:
    response = await search(
        client, world.a.keys.reader, "GLX-4410 Globex Energy", mode=mode, top_k=50
    )
    results = response.json()["results"]
    assert all(h["citation"]["document_id"] == world.a.document_id for h in results)
    assert all("GLX" not in h["text"] and "Globex" not in h["text"] for h in results)


async def test_exact_codes_are_found_by_sparse_search(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await search(client, world.b.keys.reader, "GLX-4410", mode="sparse")
    assert "GLX-4410" in response.json()["results"][0]["text"]


@pytest.mark.parametrize("mode", MODES)
async def test_filtering_on_another_tenants_document_gives_nothing(
    client: httpx.AsyncClient, world: World, mode: str
) -> None:
    flt = {"document_ids": [world.b.document_id]}
    response = await search(client, world.a.keys.reader, "handbook", mode=mode, filter=flt)
    assert response.status_code == 200
    assert response.json()["results"] == []


async def test_filters_narrow_results(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    await ingest(
        client,
        services,
        world.a.keys.admin,
        [fixture_file("acme", "policy.txt")],
        {"tags": ["policy"]},
    )
    tagged = await search(
        client, world.a.keys.reader, "policy", filter={"tags": ["policy"]}, top_k=20
    )
    names = {h["citation"]["filename"] for h in tagged.json()["results"]}
    assert names == {"policy.txt"}
    md = await search(
        client, world.a.keys.reader, "policy", filter={"media_types": ["text/markdown"]}, top_k=20
    )
    assert {h["citation"]["filename"] for h in md.json()["results"]} == {"handbook.md"}
    future = await search(
        client, world.a.keys.reader, "policy", filter={"created_after": "2999-01-01T00:00:00Z"}
    )
    assert future.json()["results"] == []


async def test_a_search_can_be_replayed_exactly(client: httpx.AsyncClient, world: World) -> None:
    response = await search(client, world.a.keys.reader, "leave and time off", top_k=3)
    body = response.json()
    replay = await client.get(f"/v1/searches/{body['search_id']}", headers=auth(world.a.keys.admin))
    assert replay.status_code == 200
    replayed = [
        {k: v for k, v in hit.items() if k not in ("deleted", "withheld")}
        for hit in replay.json()["results"]
    ]
    assert replayed == body["results"]
    assert not any(hit["deleted"] or hit["withheld"] for hit in replay.json()["results"])
    assert replay.json()["query"] == "leave and time off"


async def test_chunks_can_be_fetched_with_their_citation(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(f"/v1/chunks/{world.a.chunk_id}", headers=auth(world.a.keys.reader))
    body = response.json()
    text = await _text(client, world.a.keys.reader, world.a.document_id)
    citation = body["citation"]
    assert text[citation["char_start"] : citation["char_end"]] == body["text"]


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "x", "top_k": 0},
        {"query": "x", "top_k": 51},
        {"query": "x", "mode": "fuzzy"},
        {"query": "x", "filter": {"tenant_id": "anything"}},
        {"query": "x", "tenant_id": "anything"},
        {"query": "x", "filter": {"document_ids": ["not-a-uuid"]}},
        {"query": "x" * 2001},
    ],
)
async def test_invalid_searches_are_422(
    client: httpx.AsyncClient, world: World, body: dict[str, object]
) -> None:
    response = await client.post("/v1/search", json=body, headers=auth(world.a.keys.reader))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_rerank_without_a_reranker_says_so(client: httpx.AsyncClient, world: World) -> None:
    response = await search(client, world.a.keys.reader, "safety", rerank=True)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "rerank_unavailable"


class LeakyIndex:
    """A broken index that answers every tenant's query from tenant B's collection."""

    def __init__(self, inner: VectorIndex, victim: TenantId) -> None:
        self.inner = inner
        self.victim = victim

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        return self.inner.query(self.victim, query)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_foreign_hit_fails_the_search_closed(
    client: httpx.AsyncClient, world: World, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Isolation layer 4: if the index ever leaks another tenant's point, nothing leaves."""
    services.index = LeakyIndex(services.index, TenantId(uuid.UUID(world.b.keys.id)))  # type: ignore[assignment]
    response = await search(client, world.a.keys.reader, "handbook", mode="dense", top_k=5)
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert "GLX" not in response.text
    assert any("cross_tenant_hit" in r.getMessage() for r in caplog.records)


class RelabellingIndex(LeakyIndex):
    """Worse: it answers from tenant B's collection and stamps the caller's tenant on each hit."""

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        hits = self.inner.query(self.victim, query)
        return [replace(hit, tenant_id=str(tenant_id)) for hit in hits]


async def test_hits_past_the_tenant_check_resolve_only_to_the_callers_rows(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    """Layers 2 and 4 apart: chunk rows are read in the caller's tenant only."""
    victim = TenantId(uuid.UUID(world.b.keys.id))
    services.index = RelabellingIndex(services.index, victim)  # type: ignore[assignment]
    response = await search(client, world.a.keys.reader, "handbook", mode="dense", top_k=5)
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert "GLX" not in response.text


async def test_a_passage_present_in_two_documents_is_returned_once(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    passage = "The recirculation pump on line nine must be primed before every start."
    files = [("pump-a.txt", passage.encode()), ("pump-b.txt", (passage + "\n").encode())]
    await ingest(client, services, world.a.keys.admin, files)
    response = await search(
        client, world.a.keys.reader, "recirculation pump primed", mode="sparse", top_k=10
    )
    texts = [h["text"] for h in response.json()["results"]]
    assert texts.count(passage) == 1


async def test_equal_scores_come_back_in_chunk_id_order(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    # The same words in other orders: identical sparse vectors, so identical BM25 scores.
    files = [
        ("a.txt", b"gasket pressure valve"),
        ("b.txt", b"valve gasket pressure"),
        ("c.txt", b"pressure valve gasket"),
    ]
    await ingest(client, services, acme.admin, files)
    hits = (await search(client, acme.reader, "gasket", mode="sparse", top_k=3)).json()["results"]
    assert len(hits) == 3
    assert len({h["score"] for h in hits}) == 1
    assert [h["chunk_id"] for h in hits] == sorted(h["chunk_id"] for h in hits)


async def test_utf16_offsets_slice_the_hit_as_javascript_would(
    client: httpx.AsyncClient, services: Services
) -> None:
    keys = await make_tenant(client, "Emoji Inc")
    text = (
        "😀 Rocket launch notes 🚀.\n\n" + "The 🚀 rocket section cites emoji ✨ code 𝄞 here. " * 40
    )
    job = await ingest(client, services, keys.admin, [("emoji.txt", text.encode())])
    assert job["status"] == "done", job
    found = await search(client, keys.reader, "rocket section cites emoji")
    hits = found.json()["results"]
    assert hits
    document_id = hits[0]["citation"]["document_id"]
    full = (await client.get(f"/v1/documents/{document_id}/text", headers=auth(keys.reader))).text
    units = full.encode("utf-16-le")
    shifted = 0
    for hit in hits:
        citation = hit["citation"]
        start, end = citation["utf16_start"], citation["utf16_end"]
        assert units[2 * start : 2 * end].decode("utf-16-le") == hit["text"]
        assert full[citation["char_start"] : citation["char_end"]] == hit["text"]
        shifted += start != citation["char_start"]
    assert shifted  # the emoji before the hits moved them in UTF-16
    chunk = await client.get(f"/v1/chunks/{hits[0]['chunk_id']}", headers=auth(keys.reader))
    assert chunk.json()["citation"]["utf16_start"] == hits[0]["citation"]["utf16_start"]
