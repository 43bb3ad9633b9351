"""Authorization matrix: role × endpoint; other tenants' ids answer exactly like missing ids."""

import uuid

import httpx
import pytest

from tests.api.conftest import Side, World
from tests.conftest import OPERATOR_KEY
from tests.factories import auth

# (method, path template, roles allowed). Templates are filled from one tenant's ids.
ENDPOINTS: list[tuple[str, str, frozenset[str]]] = [
    ("GET", "/v1/tenants", frozenset({"operator"})),
    ("GET", "/v1/tenants/{tenant}", frozenset({"operator"})),
    ("GET", "/v1/keys", frozenset({"admin"})),
    ("GET", "/v1/documents", frozenset({"admin", "reader"})),
    ("GET", "/v1/documents/{document}", frozenset({"admin", "reader"})),
    ("GET", "/v1/documents/{document}/text", frozenset({"admin", "reader"})),
    ("GET", "/v1/documents/{document}/content", frozenset({"admin", "reader"})),
    ("GET", "/v1/jobs/{job}", frozenset({"admin"})),
    ("GET", "/v1/searches/{search}", frozenset({"admin", "reader"})),
    ("GET", "/v1/chunks/{chunk}", frozenset({"admin", "reader"})),
    ("GET", "/v1/audit", frozenset({"admin"})),
    ("GET", "/v1/audit/verify", frozenset({"admin"})),
    ("POST", "/v1/search", frozenset({"admin", "reader"})),
    ("POST", "/v1/keys", frozenset({"admin"})),
    ("POST", "/v1/tenants/{tenant}/keys", frozenset({"operator"})),
    ("PATCH", "/v1/documents/{document}", frozenset({"admin"})),
    ("GET", "/v1/act-as/jwks", frozenset({"admin"})),
    ("DELETE", "/v1/act-as/jwks", frozenset({"admin"})),
    ("GET", "/v1/sources", frozenset({"admin"})),
    ("GET", "/v1/sources/{missing}", frozenset({"admin"})),
    ("GET", "/v1/sources/{missing}/runs", frozenset({"admin"})),
    ("DELETE", "/v1/sources/{missing}", frozenset({"admin"})),
    ("DELETE", "/v1/documents/{missing}", frozenset({"admin"})),
    ("DELETE", "/v1/keys/{missing}", frozenset({"admin"})),
    ("DELETE", "/v1/tenants/{missing}", frozenset({"operator"})),
    ("GET", "/v1/operator/keys", frozenset({"operator"})),
    ("DELETE", "/v1/operator/keys/{missing}", frozenset({"operator"})),
    ("GET", "/v1/jobs/{job}/events", frozenset({"admin"})),
]

BODIES = {
    "/v1/search": {"query": "handbook"},
    "/v1/documents/{document}": {"access": None},
    "/v1/keys": {"role": "reader", "name": "matrix"},
    "/v1/tenants/{tenant}/keys": {"role": "reader", "name": "matrix"},
}

TENANT_SCOPED = {"{document}", "{job}", "{search}", "{chunk}"}


def _fill(template: str, side: Side) -> str:
    return template.format(
        tenant=side.keys.id,
        document=side.document_id,
        job=side.job_id,
        search=side.search_id,
        chunk=side.chunk_id,
        missing=uuid.uuid4(),
    )


def _key(role: str, side: Side) -> str | None:
    return {"operator": OPERATOR_KEY, "admin": side.keys.admin, "reader": side.keys.reader}.get(
        role
    )


async def _call(
    client: httpx.AsyncClient, method: str, path: str, body: object, key: str | None
) -> httpx.Response:
    headers = auth(key) if key else {}
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("role", ["operator", "admin", "reader", "none", "bad"])
async def test_role_matrix(client: httpx.AsyncClient, world: World, role: str) -> None:
    for method, template, allowed in ENDPOINTS:
        key = "ek_not-a-real-key" if role == "bad" else _key(role, world.a)
        response = await _call(client, method, _fill(template, world.a), BODIES.get(template), key)
        if role in ("none", "bad"):
            expected = {401}
        elif role in allowed:
            expected = {200, 201, 404} if "{missing}" in template else {200, 201}
        else:
            expected = {403}
        assert response.status_code in expected, (role, method, template, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message"}


async def test_unauthenticated_responses_say_how_to_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/documents")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("role", ["admin", "reader"])
async def test_other_tenants_ids_answer_exactly_like_missing_ids(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    for method, template, allowed in ENDPOINTS:
        if role not in allowed or not TENANT_SCOPED & {p for p in TENANT_SCOPED if p in template}:
            continue
        key = _key(role, world.a)
        other = await _call(client, method, _fill(template, world.b), BODIES.get(template), key)
        missing_path = template.format(
            **dict.fromkeys(["document", "job", "search", "chunk"], uuid.uuid4())
        )
        missing = await _call(client, method, missing_path, BODIES.get(template), key)
        assert other.status_code == missing.status_code == 404, (template, other.text)
        assert other.content == missing.content


async def test_other_tenants_ids_cannot_be_deleted(client: httpx.AsyncClient, world: World) -> None:
    doc = await client.delete(
        f"/v1/documents/{world.b.document_id}", headers=auth(world.a.keys.admin)
    )
    key = await client.delete(
        f"/v1/keys/{world.b.keys.admin_key_id}", headers=auth(world.a.keys.admin)
    )
    assert (doc.status_code, key.status_code) == (404, 404)
    still = await client.get(
        f"/v1/documents/{world.b.document_id}", headers=auth(world.b.keys.reader)
    )
    assert still.status_code == 200
    listing = await client.get("/v1/keys", headers=auth(world.b.keys.admin))
    assert all(k["revoked_at"] is None for k in listing.json())


async def test_operator_cannot_read_tenant_content(client: httpx.AsyncClient, world: World) -> None:
    for path in (
        f"/v1/documents/{world.a.document_id}",
        f"/v1/documents/{world.a.document_id}/text",
        f"/v1/chunks/{world.a.chunk_id}",
        f"/v1/searches/{world.a.search_id}",
    ):
        response = await client.get(path, headers=auth(OPERATOR_KEY))
        assert response.status_code == 403, path
    searched = await client.post("/v1/search", json={"query": "x"}, headers=auth(OPERATOR_KEY))
    assert searched.status_code == 403


async def test_revoked_key_is_refused_on_the_next_request(
    client: httpx.AsyncClient, world: World
) -> None:
    issued = await client.post(
        "/v1/keys", json={"role": "reader", "name": "temp"}, headers=auth(world.a.keys.admin)
    )
    key, key_id = issued.json()["key"], issued.json()["id"]
    assert (await client.get("/v1/documents", headers=auth(key))).status_code == 200
    await client.delete(f"/v1/keys/{key_id}", headers=auth(world.a.keys.admin))
    assert (await client.get("/v1/documents", headers=auth(key))).status_code == 401


async def test_keys_listing_never_shows_secrets(client: httpx.AsyncClient, world: World) -> None:
    listing = await client.get("/v1/keys", headers=auth(world.a.keys.admin))
    text = listing.text
    assert world.a.keys.admin not in text
    assert world.a.keys.reader not in text
    assert all("key" not in k and "key_hash" not in k for k in listing.json())
