"""Operator keys over HTTP: list, issue, revoke; a changed ENCLAVE_OPERATOR_KEY revokes the key
it replaces (audited), and the last usable operator key cannot be revoked."""

from pathlib import Path

import httpx
from fastapi import FastAPI

from api.app import create_app
from api.settings import Settings
from tests.conftest import OPERATOR_KEY
from tests.factories import auth
from tests.fakes import HashingEmbedder

OP = auth(OPERATOR_KEY)


async def test_issue_list_and_revoke_operator_keys(client: httpx.AsyncClient) -> None:
    issued = await client.post("/v1/operator/keys", json={"name": "break-glass"}, headers=OP)
    assert issued.status_code == 201, issued.text
    second = issued.json()
    assert second["role"] == "operator"
    assert second["key"].startswith("ek_")
    listed = (await client.get("/v1/operator/keys", headers=OP)).json()
    assert {k["name"] for k in listed} >= {"configured", "break-glass"}
    assert all("key" not in k and "key_hash" not in k for k in listed)
    first = next(k for k in listed if k["name"] == "configured")

    revoked = await client.delete(f"/v1/operator/keys/{first['id']}", headers=auth(second["key"]))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    assert (await client.get("/v1/tenants", headers=OP)).status_code == 401  # on its next call
    last = await client.delete(f"/v1/operator/keys/{second['id']}", headers=auth(second["key"]))
    assert last.status_code == 409
    assert last.json()["error"]["code"] == "conflict"
    assert (await client.get("/v1/tenants", headers=auth(second["key"]))).status_code == 200


async def test_a_tenant_key_is_no_operator_key(client: httpx.AsyncClient) -> None:
    tenant = (await client.post("/v1/tenants", json={"name": "T"}, headers=OP)).json()
    key = (
        await client.post(
            f"/v1/tenants/{tenant['id']}/keys", json={"role": "admin", "name": "a"}, headers=OP
        )
    ).json()
    answer = await client.delete(f"/v1/operator/keys/{key['id']}", headers=OP)
    assert answer.status_code == 404
    admin = await client.get("/v1/operator/keys", headers=auth(key["key"]))
    assert admin.status_code == 403


async def _started(settings: Settings) -> FastAPI:
    return create_app(settings, embedder=HashingEmbedder())


async def test_changing_the_configured_key_revokes_the_old_one(
    settings: Settings, tmp_path: Path
) -> None:
    for configured in (OPERATOR_KEY, "ek_the-next-configured-operator-key-0123456789"):
        settings.operator_key = configured
        app = await _started(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                old = await http.get("/v1/tenants", headers=OP)
                new = await http.get("/v1/tenants", headers=auth(configured))
                events = await http.get("/v1/operator/keys", headers=auth(configured))
    assert old.status_code == 401
    assert new.status_code == 200
    keys = events.json()
    assert [k["name"] for k in keys if k["revoked_at"] is None] == ["configured"]
    assert len([k for k in keys if k["revoked_at"] is not None]) == 1
