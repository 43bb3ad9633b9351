"""The typed clients, sync and async, against a live server on a real socket."""

import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from enclave_client.client import AsyncClient, Client, EnclaveError
from enclave_client.models import SearchFilter
from tests.api.conftest import World
from tests.conftest import OPERATOR_KEY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    """The test app (lifespan already running) served by uvicorn in a thread."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


async def test_sync_client_reads_cited_results(live_url: str, world: World) -> None:
    with Client(live_url, world.a.keys.reader) as client:
        found = client.search("handbook reference code", top_k=3, mode="dense")
        assert found.results
        top = found.results[0]
        text = client.document_text(top.citation.document_id)
        chunk = client.get_chunk(top.chunk_id)
        replay = client.replay_search(found.search_id)
        listed = client.list_documents(status="ready")
        document = client.document(world.a.document_id)
    assert text[top.citation.char_start : top.citation.char_end] == top.text
    assert hashlib.sha256(top.text.encode()).hexdigest() == top.citation.chunk_sha256
    assert (chunk.chunk_id, chunk.text, chunk.citation) == (top.chunk_id, top.text, top.citation)
    assert [h.chunk_id for h in replay.results] == [h.chunk_id for h in found.results]
    assert replay.mode == "dense"
    assert [str(d.id) for d in listed.documents] == [world.a.document_id]
    assert document.status == "ready"


async def test_sync_client_filters(live_url: str, world: World) -> None:
    with Client(live_url, world.a.keys.reader) as client:
        own = SearchFilter(document_ids=[uuid.UUID(world.a.document_id)])
        kept = client.search("handbook", filter=own)
        dropped = client.search("handbook", filter={"document_ids": [world.b.document_id]})
        untagged = client.list_documents(tag="no-such-tag")
    assert kept.results
    assert dropped.results == []
    assert untagged.documents == []


async def test_sync_client_raises_the_servers_errors(live_url: str, world: World) -> None:
    with Client(live_url, world.a.keys.reader) as client:
        with pytest.raises(EnclaveError) as foreign:
            client.get_chunk(world.b.chunk_id)
        with pytest.raises(EnclaveError) as invalid:
            client.search("handbook", top_k=500)
    assert (foreign.value.status, foreign.value.code) == (404, "not_found")
    assert (invalid.value.status, invalid.value.code) == (422, "invalid_request")
    with Client(live_url, "ek_not-a-real-key") as stranger, pytest.raises(EnclaveError) as bad:
        stranger.search("handbook")
    assert (bad.value.status, bad.value.code) == (401, "unauthenticated")
    with Client(live_url, OPERATOR_KEY) as operator, pytest.raises(EnclaveError) as denied:
        operator.list_documents()
    assert denied.value.status == 403


async def test_async_client_against_the_live_server(live_url: str, world: World) -> None:
    async with AsyncClient(live_url, world.b.keys.reader) as client:
        found = await client.search("handbook reference code", top_k=2)
        chunk = await client.get_chunk(found.results[0].chunk_id)
        listed = await client.list_documents()
        replay = await client.replay_search(found.search_id)
        with pytest.raises(EnclaveError) as foreign:
            await client.document(world.a.document_id)
    assert {str(h.citation.document_id) for h in found.results} == {world.b.document_id}
    assert chunk.text == found.results[0].text
    assert [str(d.id) for d in listed.documents] == [world.b.document_id]
    assert replay.search_id == found.search_id
    assert foreign.value.code == "not_found"


async def test_async_client_uploads_and_follows_the_job(app: FastAPI, world: World) -> None:
    transport = httpx.ASGITransport(app=app)
    async with AsyncClient("http://enclave.test", world.a.keys.admin, transport=transport) as c:
        uploaded = await c.upload([("notes.txt", b"Visitors sign in at reception.")], tags=["x"])
        app.state.services.worker.drain()
        job = await c.job(uploaded.job_id)
        text = await c.document_text(uploaded.documents[0].id)
        tagged = await c.list_documents(tag="x")
    assert job.status == "done"
    assert "reception" in text
    assert [d.id for d in tagged.documents] == [uploaded.documents[0].id]


def test_a_refused_call_is_retried_after_its_retry_after() -> None:
    answers = [
        httpx.Response(
            429,
            headers={"Retry-After": "1"},
            json={"error": {"code": "rate_limited", "message": "slow"}},
        ),
        httpx.Response(
            503,
            headers={"Retry-After": "0"},
            json={"error": {"code": "storage_unavailable", "message": "x"}},
        ),
        httpx.Response(200, json={"search_id": str(uuid.uuid4()), "results": []}),
    ]
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return answers[len(sent) - 1]

    with Client("http://enclave.test", "k", transport=httpx.MockTransport(handler)) as client:
        found = client.search("anything")
    assert found.results == []
    assert len(sent) == 3
    assert sent[1] - sent[0] >= 1.0  # it waited as told


def test_retries_give_up_with_the_servers_error() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "rate_limited", "message": "slow down"}}
        return httpx.Response(429, headers={"Retry-After": "0"}, json=body)

    with (
        Client(
            "http://enclave.test", "k", retries=2, transport=httpx.MockTransport(handler)
        ) as client,
        pytest.raises(EnclaveError) as refused,
    ):
        client.search("anything")
    assert (refused.value.status, refused.value.code) == (429, "rate_limited")


async def test_wait_for_job_returns_the_settled_job(live_url: str, world: World) -> None:
    with Client(live_url, world.a.keys.admin) as client:
        job = client.wait_for_job(world.a.job_id, timeout=30)
        assert job.status == "done"
        with pytest.raises(EnclaveError) as foreign:
            client.wait_for_job(world.b.job_id, timeout=5)
    assert foreign.value.status == 404
    async with AsyncClient(live_url, world.a.keys.admin) as aclient:
        assert (await aclient.wait_for_job(world.a.job_id)).status == "done"


async def test_delete_document_returns_its_receipt(live_url: str, world: World) -> None:
    with Client(live_url, world.a.keys.admin) as client:
        receipt = client.delete_document(world.a.document_id)
        assert receipt.erased
        assert receipt.documents == 1
        assert receipt.chunks >= 1
        with pytest.raises(EnclaveError) as gone:
            client.document(world.a.document_id)
    assert gone.value.status == 404


def test_a_post_is_not_resent_where_the_server_may_have_done_it() -> None:
    """502 or a dropped connection after a POST: the work may be done, so no retry; a GET
    (idempotent) is retried."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(502, json={"error": {"code": "bad_gateway", "message": "x"}})

    transport = httpx.MockTransport(handler)
    with Client("http://enclave.test", "k", retries=2, transport=transport) as client:
        with pytest.raises(EnclaveError):
            client.search("anything")
        with pytest.raises(EnclaveError):
            client.document(str(uuid.uuid4()))
    assert sent == ["POST", "GET", "GET", "GET"]
