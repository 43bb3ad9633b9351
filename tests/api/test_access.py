"""Access inside a tenant over HTTP and MCP: each identity reads exactly what it may."""

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.services import Services
from tests.api.test_mcp import body, connect, error_code
from tests.factories import OPERATOR, auth, ingest, make_tenant, search
from tests.tenancy.test_act_as import signer

FILES: dict[str, tuple[bytes, dict[str, list[str]] | None]] = {
    "public.txt": (b"Canteen menu: the pump room serves soup.", None),
    "hr.txt": (b"Salary bands for the pump engineers.", {"groups": ["hr"]}),
    "alice.txt": (b"Alice's pump appraisal notes.", {"users": ["alice"]}),
    "admins.txt": (b"Pump vendor contract terms.", {"users": [], "groups": []}),
}
# Who may read what, by key.
EXPECTED = {
    "admin": set(FILES),
    "reader": {"public.txt"},
    "alice": {"public.txt", "hr.txt", "alice.txt"},
    "bob": {"public.txt"},
}


@dataclass(frozen=True)
class Office:
    """A tenant whose documents carry access lists, and keys for several identities."""

    tenant: str
    keys: dict[str, str]
    ids: dict[str, str]


async def _key(client: httpx.AsyncClient, tenant: str, **spec: Any) -> str:
    made = await client.post(
        f"/v1/tenants/{tenant}/keys", json={"name": "k", **spec}, headers=OPERATOR
    )
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


@pytest.fixture
async def office(client: httpx.AsyncClient, services: Services) -> Office:
    made = await make_tenant(client, "Office")
    keys = {"admin": made.admin, "reader": made.reader}
    keys["alice"] = await _key(client, made.id, role="reader", user="alice", groups=["hr"])
    keys["bob"] = await _key(client, made.id, role="reader", user="bob", groups=["eng"])
    keys["delegate"] = await _key(client, made.id, role="reader", delegate=True)
    ids = {}
    for name, (data, access) in FILES.items():
        meta = {"access": access} if access is not None else {}
        job = await ingest(client, services, made.admin, [(name, data)], meta)
        ids[name] = job["documents"][0]["id"]
    jwks = {"keys": [signer("EdDSA").jwk]}
    registered = await client.put("/v1/act-as/jwks", json=jwks, headers=auth(made.admin))
    assert registered.status_code == 200, registered.text
    return Office(made.id, keys, ids)


def _assertion(office: Office, user: str = "alice", **extra: Any) -> str:
    claims = {"sub": user, "groups": ["hr"], "aud": office.tenant, "exp": time.time() + 300}
    return signer("EdDSA").sign({**claims, **extra})


async def _found(client: httpx.AsyncClient, key: str, **headers: str) -> set[str]:
    found = await client.post(
        "/v1/search", json={"query": "pump", "top_k": 50}, headers={**auth(key), **headers}
    )
    assert found.status_code == 200, found.text
    return {hit["citation"]["filename"] for hit in found.json()["results"]}


@pytest.mark.parametrize("who", sorted(EXPECTED))
async def test_each_identity_searches_lists_and_reads_exactly_what_it_may(
    client: httpx.AsyncClient, office: Office, who: str
) -> None:
    key = office.keys[who]
    assert await _found(client, key) == EXPECTED[who]
    listed = await client.get("/v1/documents?limit=200", headers=auth(key))
    assert {d["filename"] for d in listed.json()["documents"]} == EXPECTED[who]
    for name, document_id in office.ids.items():
        for tail in ("", "/text", "/content"):
            answer = await client.get(f"/v1/documents/{document_id}{tail}", headers=auth(key))
            missing = await client.get(f"/v1/documents/{uuid.uuid4()}{tail}", headers=auth(key))
            if name in EXPECTED[who]:
                assert answer.status_code == 200, (who, name, tail)
            else:
                assert (answer.status_code, answer.content) == (404, missing.content)


async def test_a_forbidden_chunk_answers_like_a_missing_one(
    client: httpx.AsyncClient, office: Office
) -> None:
    hits = await client.post(
        "/v1/search", json={"query": "appraisal", "top_k": 50}, headers=auth(office.keys["alice"])
    )
    chunk = next(
        h["chunk_id"] for h in hits.json()["results"] if h["citation"]["filename"] == "alice.txt"
    )
    theirs = await client.get(f"/v1/chunks/{chunk}", headers=auth(office.keys["bob"]))
    missing = await client.get(f"/v1/chunks/{uuid.uuid4()}", headers=auth(office.keys["bob"]))
    assert (theirs.status_code, theirs.content) == (404, missing.content)
    mine = await client.get(f"/v1/chunks/{chunk}", headers=auth(office.keys["alice"]))
    assert mine.status_code == 200


async def test_a_change_of_access_applies_to_the_next_search(
    client: httpx.AsyncClient, office: Office
) -> None:
    bob, admin = office.keys["bob"], auth(office.keys["admin"])
    assert "hr.txt" not in await _found(client, bob)
    url = f"/v1/documents/{office.ids['hr.txt']}"
    granted = await client.patch(url, json={"access": {"groups": ["hr", "eng"]}}, headers=admin)
    assert granted.status_code == 200, granted.text
    assert granted.json()["access"] == {"users": [], "groups": ["eng", "hr"]}
    assert "hr.txt" in await _found(client, bob)
    revoked = await client.patch(url, json={"access": {"users": ["carol"]}}, headers=admin)
    assert revoked.status_code == 200
    assert "hr.txt" not in await _found(client, bob)
    assert "hr.txt" not in await _found(client, office.keys["alice"])
    public = await client.patch(url, json={"access": None}, headers=admin)
    assert public.json()["access"] is None
    assert "hr.txt" in await _found(client, office.keys["reader"])


async def test_readers_cannot_change_access(client: httpx.AsyncClient, office: Office) -> None:
    url = f"/v1/documents/{office.ids['alice.txt']}"
    refused = await client.patch(url, json={"access": None}, headers=auth(office.keys["alice"]))
    assert refused.status_code == 403


async def test_a_delegate_key_reads_for_the_user_its_assertion_names(
    client: httpx.AsyncClient, office: Office
) -> None:
    delegate = office.keys["delegate"]
    assert await _found(client, delegate) == {"public.txt"}
    acting = {"Enclave-Act-As": _assertion(office)}
    assert await _found(client, delegate, **acting) == EXPECTED["alice"]
    as_bob = {"Enclave-Act-As": _assertion(office, "bob", groups=[])}
    assert await _found(client, delegate, **as_bob) == {"public.txt"}


@pytest.mark.parametrize(
    "bad",
    [
        {"exp": 0},
        {"aud": "another-tenant"},
        {"sub": None},
    ],
)
async def test_a_bad_assertion_is_a_401_and_is_audited(
    client: httpx.AsyncClient, office: Office, bad: dict[str, Any]
) -> None:
    claims = {k: v for k, v in bad.items() if v is not None}
    token = _assertion(office, **claims)
    if "sub" in bad:
        token = signer("EdDSA").sign({"aud": office.tenant, "exp": time.time() + 60})
    refused = await client.post(
        "/v1/search",
        json={"query": "pump"},
        headers={**auth(office.keys["delegate"]), "Enclave-Act-As": token},
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"
    events = await client.get("/v1/audit?action=auth.act_as", headers=auth(office.keys["admin"]))
    assert [e["outcome"] for e in events.json()["events"]] == ["unauthenticated"]


async def test_an_assertion_on_a_key_that_is_not_a_delegate_is_a_401(
    client: httpx.AsyncClient, office: Office
) -> None:
    for who in ("reader", "bob", "admin"):
        refused = await client.post(
            "/v1/search",
            json={"query": "pump"},
            headers={**auth(office.keys[who]), "Enclave-Act-As": _assertion(office)},
        )
        assert refused.status_code == 401, who


async def test_a_reader_replays_only_its_own_identitys_searches(
    client: httpx.AsyncClient, office: Office
) -> None:
    alice, admin = office.keys["alice"], office.keys["admin"]
    made = await search(client, alice, "appraisal", top_k=10)
    search_id = made.json()["search_id"]
    for who, status in (("alice", 200), ("admin", 200), ("bob", 404), ("reader", 404)):
        replay = await client.get(f"/v1/searches/{search_id}", headers=auth(office.keys[who]))
        assert replay.status_code == status, who
    acting = {**auth(office.keys["delegate"]), "Enclave-Act-As": _assertion(office)}
    as_alice = await client.get(f"/v1/searches/{search_id}", headers=acting)
    assert as_alice.status_code == 200  # the same identity, through a delegate key
    url = f"/v1/documents/{office.ids['alice.txt']}"
    await client.patch(url, json={"access": {"users": ["carol"]}}, headers=auth(admin))
    later = await client.get(f"/v1/searches/{search_id}", headers=auth(alice))
    withheld = [h for h in later.json()["results"] if h["citation"]["filename"] == "alice.txt"]
    assert withheld
    assert all(h["withheld"] and h["text"] is None for h in withheld)


async def test_the_search_audit_event_records_the_identity_and_tokens(
    client: httpx.AsyncClient, office: Office
) -> None:
    await search(client, office.keys["alice"], "pump")
    events = await client.get("/v1/audit?action=search", headers=auth(office.keys["admin"]))
    details = events.json()["events"][-1]["details"]
    assert details["identity"] == "user:alice"
    assert details["access"] == ["*", "g:hr", "u:alice"]


async def test_mcp_tools_obey_the_keys_identity(
    app: FastAPI, client: httpx.AsyncClient, office: Office
) -> None:
    async with connect(app, office.keys["bob"]) as mcp:
        found = await mcp.call_tool("search", {"query": "pump", "top_k": 50})
        assert {h["citation"]["filename"] for h in body(found)["results"]} == EXPECTED["bob"]
        listed = await mcp.call_tool("list_documents", {"limit": 100})
        assert {d["filename"] for d in body(listed)["documents"]} == EXPECTED["bob"]
    hits = await client.post(
        "/v1/search", json={"query": "appraisal", "top_k": 50}, headers=auth(office.keys["alice"])
    )
    chunk = next(
        h["chunk_id"] for h in hits.json()["results"] if h["citation"]["filename"] == "alice.txt"
    )
    async with connect(app, office.keys["bob"]) as mcp:
        assert error_code(await mcp.call_tool("get_chunk", {"chunk_id": chunk})) == "not_found"


@pytest.mark.parametrize(
    "spec",
    [
        {"role": "admin", "user": "alice"},
        {"role": "admin", "delegate": True},
        {"role": "reader", "user": "alice", "delegate": True},
        {"role": "reader", "groups": ["hr"]},
        {"role": "reader", "user": "bad\nname"},
    ],
)
async def test_keys_with_impossible_identities_are_refused(
    client: httpx.AsyncClient, office: Office, spec: dict[str, Any]
) -> None:
    refused = await client.post(
        "/v1/keys", json={"name": "x", **spec}, headers=auth(office.keys["admin"])
    )
    assert refused.status_code == 422, refused.text


async def test_a_sources_access_reaches_its_documents(
    client: httpx.AsyncClient, services: Services, office: Office
) -> None:
    admin = office.keys["admin"]
    memo = b"The pump budget memo for engineering."
    manifest = [{"path": "memo.txt", "sha256": hashlib.sha256(memo).hexdigest(), "size": len(memo)}]
    started = await client.post(
        "/v1/sources/eng/runs",
        json={"manifest": manifest, "access": {"groups": ["eng"]}},
        headers=auth(admin),
    )
    run = started.json()
    parts = [("files", ("memo.txt", memo, "text/plain"))]
    await client.post(f"/v1/sources/eng/runs/{run['id']}/files", files=parts, headers=auth(admin))
    await client.post(f"/v1/sources/eng/runs/{run['id']}/commit", headers=auth(admin))
    services.worker.drain()
    assert "memo.txt" in await _found(client, office.keys["bob"])
    assert "memo.txt" not in await _found(client, office.keys["alice"])
    opened = await client.patch("/v1/sources/eng", json={"access": None}, headers=auth(admin))
    assert opened.status_code == 200, opened.text
    assert "memo.txt" in await _found(client, office.keys["alice"])
