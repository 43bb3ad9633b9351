"""Faults and hostile input: a clear 4xx/5xx with a code, never a 500, never a half state.

Each test names the finding of the outside review it guards (issue #18).
"""

import errno
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.services import Services
from ingest import erasure
from retrieval.models import Document, DocumentStatus
from tenancy.ids import TenantId
from tenancy.models import ApiKey, AuditEvent, Tenant
from tenancy.scope import Scope
from tests.factories import (
    OPERATOR,
    TenantKeys,
    auth,
    fixture_file,
    ingest,
    make_tenant,
    search,
    upload,
)

MEMO = ("memo.txt", b"The turbine inspection is due in March. Check the blades.")


@pytest.fixture
async def acme(client: httpx.AsyncClient) -> TenantKeys:
    return await make_tenant(client, "Acme")


@pytest.fixture
async def globex(client: httpx.AsyncClient) -> TenantKeys:
    return await make_tenant(client, "Globex")


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# -- 2. disk space ------------------------------------------------------------------------


async def test_below_the_disk_reserve_uploads_are_507_and_reads_go_on(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [MEMO])
    services.disk.reserve_bytes = services.disk.free() + 2**40  # a disk "full" for us
    refused = await upload(client, acme.admin, [("more.txt", b"Another note on pumps.")])
    assert refused.status_code == 507
    assert _code(refused) == "insufficient_storage"
    assert (await search(client, acme.reader, "turbine")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["disk"].startswith("degraded")
    listing = (await client.get("/v1/documents", headers=auth(acme.admin))).json()
    assert [d["filename"] for d in listing["documents"]] == ["memo.txt"]  # nothing half-stored


async def test_a_worker_leaves_documents_queued_while_the_disk_is_low(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    accepted = await upload(client, acme.admin, [MEMO])
    assert accepted.status_code == 202
    services.disk.reserve_bytes = services.disk.free() + 2**40
    assert services.worker.drain() == 0
    doc_id = accepted.json()["documents"][0]["id"]
    doc = await client.get(f"/v1/documents/{doc_id}", headers=auth(acme.admin))
    assert doc.json()["status"] == "queued"
    services.disk.reserve_bytes = 0  # space freed: work resumes
    assert services.worker.drain() == 1
    doc = await client.get(f"/v1/documents/{doc_id}", headers=auth(acme.admin))
    assert doc.json()["status"] == "ready"


async def test_a_write_that_hits_a_full_disk_is_507_and_stores_nothing(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys, monkeypatch: Any
) -> None:
    def full(*_args: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(services.blobs, "put", full)
    response = await upload(client, acme.admin, [MEMO])
    assert response.status_code == 507
    assert _code(response) == "insufficient_storage"
    listing = (await client.get("/v1/documents", headers=auth(acme.admin))).json()
    assert listing["documents"] == []


async def test_tenants_get_a_default_byte_quota_and_operators_may_raise_it(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    assert services.quota.max_bytes == 10 * 1024**3
    body = {"max_bytes": 20 * 1024**3}
    response = await client.put(f"/v1/tenants/{acme.id}/limits", json=body, headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert response.json()["limits"]["max_bytes"] == 20 * 1024**3


# -- 4. durable erasure -------------------------------------------------------------------


def _doc_ids(services: Services, tenant: str) -> list[uuid.UUID]:
    with services.sessions() as session:
        query = select(Document.id).where(Document.tenant_id == uuid.UUID(tenant))
        return list(session.scalars(query))


async def _gone_to_readers(client: httpx.AsyncClient, keys: TenantKeys, doc_id: str) -> None:
    for path in ("", "/text", "/content"):
        response = await client.get(f"/v1/documents/{doc_id}{path}", headers=auth(keys.admin))
        assert response.status_code == 404, (path, response.text)
    listing = (await client.get("/v1/documents", headers=auth(keys.admin))).json()
    assert doc_id not in [d["id"] for d in listing["documents"]]
    hits = (await search(client, keys.reader, "turbine blades", mode="sparse")).json()["results"]
    assert doc_id not in [h["citation"]["document_id"] for h in hits]


async def test_a_document_whose_erasure_was_interrupted_is_gone_and_then_finished(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys, globex: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [MEMO])
    await ingest(client, services, globex.admin, [MEMO])
    [doc_id] = _doc_ids(services, acme.id)
    tenant = TenantId(uuid.UUID(acme.id))
    # The crash: the intent was committed, then the process died before erasing anything.
    with services.sessions.begin() as session:
        scope = Scope(session, tenant)
        erasure.mark(scope, [scope.get(Document, doc_id, kind="document")])
    assert services.index.count(tenant) == 1
    await _gone_to_readers(client, acme, str(doc_id))
    deleted_again = await client.delete(f"/v1/documents/{doc_id}", headers=auth(acme.admin))
    assert deleted_again.status_code == 404  # like any missing document
    done = erasure.resume(
        services.sessions, services.index, services.blobs, gate=services.gate, after_s=0
    )
    assert done == erasure.Resumed(documents=1, tenants=0)
    assert services.index.count(tenant) == 0
    assert _doc_ids(services, acme.id) == []
    assert not services.blobs.path(tenant, _sha(MEMO[1])).exists()
    other = TenantId(uuid.UUID(globex.id))
    assert services.index.count(other) == 1  # the other tenant's copy is untouched
    assert services.blobs.path(other, _sha(MEMO[1])).exists()
    events = (await client.get("/v1/audit", headers=auth(acme.admin))).json()["events"]
    resumed = [e for e in events if e["details"].get("resumed")]
    assert [(e["action"], e["targets"]) for e in resumed] == [("document.delete", [str(doc_id)])]
    verified = (await client.get("/v1/audit/verify", headers=auth(acme.admin))).json()
    assert verified["ok"] is True


async def test_a_half_erased_document_is_finished_from_any_point(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [MEMO])
    [doc_id] = _doc_ids(services, acme.id)
    tenant = TenantId(uuid.UUID(acme.id))
    with services.sessions.begin() as session:
        scope = Scope(session, tenant)
        erasure.mark(scope, [scope.get(Document, doc_id, kind="document")])
    # Crashed after the vectors and the original went, before the rows did.
    services.index.delete_document(tenant, doc_id)
    services.blobs.delete(tenant, _sha(MEMO[1]))
    await _gone_to_readers(client, acme, str(doc_id))  # a missing original is a 404, not 500
    erasure.resume(services.sessions, services.index, services.blobs, gate=services.gate, after_s=0)
    assert _doc_ids(services, acme.id) == []


async def test_a_young_erasure_is_left_to_the_request_doing_it(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [MEMO])
    [doc_id] = _doc_ids(services, acme.id)
    with services.sessions.begin() as session:
        scope = Scope(session, TenantId(uuid.UUID(acme.id)))
        erasure.mark(scope, [scope.get(Document, doc_id, kind="document")])
    done = erasure.resume(
        services.sessions, services.index, services.blobs, gate=services.gate, after_s=3600
    )
    assert done == erasure.Resumed()
    with services.sessions() as session:
        assert session.get(Document, doc_id).status == DocumentStatus.ERASING  # type: ignore[union-attr]


async def test_a_tenant_whose_erasure_was_interrupted_is_gone_then_finished(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys, globex: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [MEMO])
    await ingest(client, services, globex.admin, [MEMO])
    tenant_id = uuid.UUID(acme.id)

    def crash() -> None:
        session.commit()
        raise SystemExit("killed after the intent")

    with services.sessions() as session, pytest.raises(SystemExit):
        erasure.delete_tenant(session, services.index, services.blobs, tenant_id, intent=crash)
    refused = await client.get("/v1/documents", headers=auth(acme.admin))
    assert refused.status_code == 401  # its keys stopped with the intent
    assert (await client.get(f"/v1/tenants/{acme.id}", headers=OPERATOR)).status_code == 404
    names = [t["name"] for t in (await client.get("/v1/tenants", headers=OPERATOR)).json()]
    assert names == ["Globex"]
    done = erasure.resume(
        services.sessions, services.index, services.blobs, gate=services.gate, after_s=0
    )
    assert done.tenants == 1
    with services.sessions() as session:
        assert session.get(Tenant, tenant_id) is None
        assert session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id)).all() == []
        system = select(AuditEvent).where(AuditEvent.tenant_id.is_(None))
        actions = [e.action for e in session.scalars(system) if e.details.get("resumed")]
    assert actions == ["tenant.delete"]
    assert services.index.count(TenantId(tenant_id)) == 0
    assert (await search(client, globex.reader, "turbine")).json()["results"]


async def test_deleting_a_tenant_again_finishes_an_interrupted_erasure(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [MEMO])

    def crash() -> None:
        session.commit()
        raise SystemExit("killed after the intent")

    with services.sessions() as session, pytest.raises(SystemExit):
        erasure.delete_tenant(
            session, services.index, services.blobs, uuid.UUID(acme.id), intent=crash
        )
    response = await client.delete(f"/v1/tenants/{acme.id}", headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert response.json()["documents"] == 1
    assert (await client.delete(f"/v1/tenants/{acme.id}", headers=OPERATOR)).status_code == 404


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# -- 6. NUL and control characters --------------------------------------------------------


async def test_nul_in_any_text_input_is_422_on_both_databases(
    client: httpx.AsyncClient, acme: TenantKeys
) -> None:
    cases = [
        ("POST", "/v1/search", {"query": "turbine\x00"}, acme.reader),
        ("POST", "/v1/search", {"query": "x", "filters": {"tags": ["a\x00b"]}}, acme.reader),
        ("POST", "/v1/tenants", {"name": "Evil\x00Corp"}, None),
        ("POST", f"/v1/tenants/{acme.id}/keys", {"role": "reader", "name": "k\x00"}, None),
    ]
    for method, path, body, key in cases:
        headers = auth(key) if key else OPERATOR
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (path, body, response.text)
        assert _code(response) == "invalid_request"
    listing = await client.get("/v1/documents?tag=a%00b", headers=auth(acme.admin))
    assert listing.status_code == 422
    metadata = await upload(client, acme.admin, [MEMO], {"tags": ["bad\x00tag"]})
    assert metadata.status_code == 422


@pytest.mark.parametrize("name", ["bad\x00name.txt", "new\nline.txt", ".", ".."])
async def test_file_names_with_control_characters_or_dots_are_refused(
    client: httpx.AsyncClient, acme: TenantKeys, name: str
) -> None:
    # Built by hand: httpx would percent-encode the name, a hostile client does not.
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\nsome text\r\n--b0undary--\r\n'
    )
    headers = {**auth(acme.admin), "content-type": "multipart/form-data; boundary=b0undary"}
    response = await client.post("/v1/documents", content=body, headers=headers)
    assert response.status_code == 422, response.text
    listing = (await client.get("/v1/documents", headers=auth(acme.admin))).json()
    assert listing["documents"] == []


# -- 8. smaller ---------------------------------------------------------------------------


async def test_a_utf16_document_declaring_entities_is_refused(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    xml = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    job = await ingest(client, services, acme.admin, [("bomb.html", xml.encode("utf-16"))])
    assert job["progress"]["failed"] == 1
    [doc] = (await client.get("/v1/documents", headers=auth(acme.admin))).json()["documents"]
    assert doc["status"] == "failed"
    assert "entities" in doc["error"]


async def test_a_600_kb_single_paragraph_is_indexed(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    sentence = "The pump pressure stays between four and six bar during the morning shift. "
    text = (sentence * (600_000 // len(sentence))).encode()
    job = await ingest(client, services, acme.admin, [("long.txt", text)])
    assert job["progress"] == {"total": 1, "done": 1, "failed": 0}
    [doc] = (await client.get("/v1/documents", headers=auth(acme.admin))).json()["documents"]
    assert doc["chunk_count"] > 400
    hits = (await search(client, acme.reader, "pump pressure", mode="sparse")).json()["results"]
    assert hits
    assert hits[0]["citation"]["document_id"] == doc["id"]


async def test_get_on_the_mcp_endpoint_is_405_not_an_endless_stream(
    client: httpx.AsyncClient, acme: TenantKeys
) -> None:
    response = await client.get("/mcp", headers=auth(acme.reader))
    assert response.status_code == 405


async def test_a_url_with_a_control_character_is_422(
    client: httpx.AsyncClient, acme: TenantKeys
) -> None:
    response = await client.get("/v1/documents?status=ready%0d%0a", headers=auth(acme.admin))
    assert response.status_code == 422
    assert _code(response) == "invalid_request"


async def test_the_fixture_tenants_stay_apart_under_faults(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys, globex: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [fixture_file("acme", "handbook.md")])
    services.disk.reserve_bytes = services.disk.free() + 2**40
    refused = await upload(client, globex.admin, [fixture_file("globex", "handbook.md")])
    assert refused.status_code == 507
    hits = (await search(client, globex.reader, "handbook")).json()["results"]
    assert hits == []  # nothing of Acme's, nothing half-stored of Globex's
