"""Operator: tenants and erasure."""

import httpx

from api.services import Services
from tests.factories import OPERATOR, auth, fixture_file, ingest, make_tenant, search


async def test_tenants_are_created_listed_and_shown(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/tenants", json={"name": "Acme"}, headers=OPERATOR)
    assert created.status_code == 201
    tenant = created.json()
    assert set(tenant) == {"id", "name", "created_at", "limits"}
    listing = await client.get("/v1/tenants", headers=OPERATOR)
    assert [t["id"] for t in listing.json()] == [tenant["id"]]
    shown = await client.get(f"/v1/tenants/{tenant['id']}", headers=OPERATOR)
    assert shown.json() == tenant


async def test_duplicate_names_are_409(client: httpx.AsyncClient) -> None:
    await client.post("/v1/tenants", json={"name": "Acme"}, headers=OPERATOR)
    again = await client.post("/v1/tenants", json={"name": "Acme"}, headers=OPERATOR)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


async def test_a_blank_name_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/tenants", json={"name": "  "}, headers=OPERATOR)
    assert response.status_code == 422


async def test_issuing_an_operator_key_for_a_tenant_is_422(client: httpx.AsyncClient) -> None:
    tenant = (await client.post("/v1/tenants", json={"name": "Acme"}, headers=OPERATOR)).json()
    response = await client.post(
        f"/v1/tenants/{tenant['id']}/keys", json={"role": "operator", "name": "x"}, headers=OPERATOR
    )
    assert response.status_code == 422


async def test_deleting_a_tenant_erases_everything_and_spares_the_other(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    globex = await make_tenant(client, "Globex")
    await ingest(client, services, acme.admin, [fixture_file("acme", "handbook.md")])
    await ingest(client, services, globex.admin, [fixture_file("globex", "handbook.md")])
    await search(client, acme.reader, "safety")
    receipt = (await client.delete(f"/v1/tenants/{acme.id}", headers=OPERATOR)).json()
    assert receipt["documents"] == 1
    assert receipt["chunks"] == receipt["vectors"] > 0
    assert (receipt["keys"], receipt["searches"], receipt["blobs"]) == (2, 1, 1)
    assert receipt["audit_events"] > 0
    assert (await client.get(f"/v1/tenants/{acme.id}", headers=OPERATOR)).status_code == 404
    assert (await client.get("/v1/documents", headers=auth(acme.admin))).status_code == 401
    assert not (services.settings.data_dir / "blobs" / acme.id.replace("-", "")).exists()
    survivor = await search(client, globex.reader, "GLX-4410", mode="sparse")
    assert survivor.json()["results"]


async def test_deleting_a_missing_tenant_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete(
        "/v1/tenants/00000000-0000-4000-8000-000000000000", headers=OPERATOR
    )
    assert response.status_code == 404
