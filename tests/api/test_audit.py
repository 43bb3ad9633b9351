"""Traceability: one audit event per call, failures included, a verifiable chain, replay."""

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update

from api.services import Services
from retrieval.models import SearchRecord
from tenancy import audit
from tenancy.models import AuditEvent
from tests.api.conftest import World
from tests.factories import OPERATOR, auth, search


async def _events(client: httpx.AsyncClient, admin: str, after: int = 0) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/audit?after_seq={after}&limit=1000", headers=auth(admin))
    events: list[dict[str, Any]] = response.json()["events"]
    return [e for e in events if e["action"] != "audit.read"]


async def _last_seq(client: httpx.AsyncClient, admin: str) -> int:
    response = await client.get("/v1/audit?limit=1000", headers=auth(admin))
    return int(response.json()["events"][-1]["seq"])


async def test_every_call_appends_exactly_one_event(
    client: httpx.AsyncClient, world: World
) -> None:
    a = world.a
    calls: list[tuple[str, str, str, object, str]] = [
        ("GET", "/v1/documents", a.keys.reader, None, "document.list"),
        ("GET", f"/v1/documents/{a.document_id}", a.keys.reader, None, "document.read"),
        ("GET", f"/v1/documents/{a.document_id}/text", a.keys.reader, None, "document.text"),
        ("GET", f"/v1/documents/{a.document_id}/content", a.keys.admin, None, "document.content"),
        ("GET", f"/v1/jobs/{a.job_id}", a.keys.admin, None, "job.read"),
        ("GET", f"/v1/chunks/{a.chunk_id}", a.keys.reader, None, "chunk.read"),
        ("GET", f"/v1/searches/{a.search_id}", a.keys.reader, None, "search.replay"),
        ("POST", "/v1/search", a.keys.reader, {"query": "safety"}, "search"),
        ("GET", "/v1/keys", a.keys.admin, None, "key.list"),
        ("GET", "/v1/audit/verify", a.keys.admin, None, "audit.verify"),
        ("GET", f"/v1/documents/{world.b.document_id}", a.keys.reader, None, "document.read"),
        ("GET", "/v1/keys", a.keys.reader, None, "key.list"),
    ]
    for method, path, key, body, action in calls:
        before = await _last_seq(client, a.keys.admin)
        response = await client.request(method, path, json=body, headers=auth(key))
        new = await _events(client, a.keys.admin, before)
        assert [e["action"] for e in new] == [action], (path, new)
        assert new[0]["request_id"] == response.headers["x-request-id"]
        expected = {200: "ok", 404: "not_found", 403: "forbidden"}[response.status_code]
        assert new[0]["outcome"] == expected, path


async def test_a_search_event_records_what_was_returned(
    client: httpx.AsyncClient, world: World
) -> None:
    flt = {"tags": [], "document_ids": [world.a.document_id]}
    response = await search(client, world.a.keys.reader, "robot floor", mode="dense", filter=flt)
    body = response.json()
    event = (await _events(client, world.a.keys.admin))[-1]
    assert event["action"] == "search"
    assert event["details"]["query"] == "robot floor"
    assert event["details"]["mode"] == "dense"
    assert event["details"]["filter"]["document_ids"] == [world.a.document_id]
    returned = [(h["chunk_id"], h["citation"]["chunk_sha256"]) for h in body["results"]]
    recorded = [(r["chunk_id"], r["chunk_sha256"]) for r in event["details"]["results"]]
    assert recorded == returned
    assert event["key_id"] is not None


async def test_auth_failures_are_audited_on_the_system_chain(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    def system_failures() -> int:
        with services.sessions() as session:
            query = select(AuditEvent).where(
                AuditEvent.tenant_id.is_(None), AuditEvent.action == "auth.failed"
            )
            return len(list(session.scalars(query)))

    before = system_failures()
    await client.get("/v1/documents", headers=auth("ek_wrong"))
    await client.get("/v1/documents")
    assert system_failures() == before + 2
    with services.sessions() as session:
        assert audit.verify(session, None).ok


async def test_keys_never_appear_in_audit_records(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    await client.get("/v1/documents", headers=auth(world.a.keys.reader + "x"))
    with services.sessions() as session:
        dump = json.dumps(
            [e.details | {"t": e.targets} for e in session.scalars(select(AuditEvent))]
        )
    for key in (world.a.keys.admin, world.a.keys.reader, world.b.keys.admin, world.b.keys.reader):
        assert key not in dump
        assert key[10:] not in dump


async def test_verification_finds_a_tampered_row(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    ok = (await client.get("/v1/audit/verify", headers=auth(world.a.keys.admin))).json()
    assert ok["ok"] is True
    assert ok["first_broken_seq"] is None
    with services.sessions.begin() as session:
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.tenant_id == uuid.UUID(world.a.keys.id), AuditEvent.seq == 2)
            .values(outcome="forged")
        )
    broken = (await client.get("/v1/audit/verify", headers=auth(world.a.keys.admin))).json()
    assert (broken["ok"], broken["first_broken_seq"]) == (False, 2)
    other = (await client.get("/v1/audit/verify", headers=auth(world.b.keys.admin))).json()
    assert other["ok"] is True


async def test_audit_listing_filters_by_action_and_key(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = auth(world.a.keys.admin)
    searches = (await client.get("/v1/audit?action=search", headers=admin)).json()["events"]
    assert searches
    assert {e["action"] for e in searches} == {"search"}
    key_id = searches[0]["key_id"]
    by_key = (await client.get(f"/v1/audit?key_id={key_id}", headers=admin)).json()["events"]
    assert {e["key_id"] for e in by_key} == {key_id}
    future = (await client.get("/v1/audit?since=2999-01-01T00:00:00Z", headers=admin)).json()[
        "events"
    ]
    assert future == []


async def test_replay_after_delete_keeps_hashes_and_drops_text(
    client: httpx.AsyncClient, world: World, services: Services
) -> None:
    body = (await search(client, world.a.keys.reader, "safety", top_k=3)).json()
    await client.delete(f"/v1/documents/{world.a.document_id}", headers=auth(world.a.keys.admin))
    replay = (
        await client.get(f"/v1/searches/{body['search_id']}", headers=auth(world.a.keys.reader))
    ).json()
    assert [h["chunk_id"] for h in replay["results"]] == [h["chunk_id"] for h in body["results"]]
    assert all(h["deleted"] and h["text"] is None for h in replay["results"])
    kept = [h["citation"]["chunk_sha256"] for h in replay["results"]]
    assert kept == [h["citation"]["chunk_sha256"] for h in body["results"]]
    with services.sessions() as session:
        stored = json.dumps([r.results for r in session.scalars(select(SearchRecord))])
    assert body["results"][0]["text"] not in stored


async def test_every_admin_action_appends_exactly_one_event(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.keys.admin
    files = [("files", ("note.txt", b"An audited upload of plain words.", "text/plain"))]
    before = await _last_seq(client, admin)
    uploaded = await client.post("/v1/documents", files=files, headers=auth(admin))
    issued = await client.post(
        "/v1/keys", json={"role": "reader", "name": "x"}, headers=auth(admin)
    )
    await client.delete(f"/v1/keys/{issued.json()['id']}", headers=auth(admin))
    await client.delete(
        f"/v1/documents/{uploaded.json()['documents'][0]['id']}", headers=auth(admin)
    )
    actions = [e["action"] for e in await _events(client, admin, before)]
    assert actions == ["document.upload", "key.issue", "key.revoke", "document.delete"]


async def test_every_operator_call_appends_one_event_on_the_system_chain(
    client: httpx.AsyncClient, services: Services
) -> None:
    def system_actions() -> list[str]:
        with services.sessions() as session:
            query = (
                select(AuditEvent).where(AuditEvent.tenant_id.is_(None)).order_by(AuditEvent.seq)
            )
            return [e.action for e in session.scalars(query)]

    before = len(system_actions())
    tenant = (await client.post("/v1/tenants", json={"name": "Initech"}, headers=OPERATOR)).json()
    await client.get("/v1/tenants", headers=OPERATOR)
    await client.get(f"/v1/tenants/{tenant['id']}", headers=OPERATOR)
    await client.put(
        f"/v1/tenants/{tenant['id']}/limits", json={"max_documents": 3}, headers=OPERATOR
    )
    body = {"role": "admin", "name": "a"}
    await client.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=OPERATOR)
    await client.delete(f"/v1/tenants/{tenant['id']}", headers=OPERATOR)
    assert system_actions()[before:] == [
        "tenant.create",
        "tenant.list",
        "tenant.read",
        "tenant.limits",
        "tenant.key.issue",
        "tenant.delete",
    ]
