"""The error contract: JSON `{"error": {code, message}}`, never a 500 for client input."""

import httpx
from sqlalchemy import text

from api.services import Services
from tests.factories import OPERATOR


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "not found"}}


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/search", headers=OPERATOR)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/tenants",
        content=b"{not json",
        headers={**OPERATOR, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_a_bad_uuid_in_the_path_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tenants/not-a-uuid", headers=OPERATOR)
    assert response.status_code == 422


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-Id": "bad id\n"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_readiness_reports_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert set(checks) == {"database", "migrations", "index", "model", "disk"}
    assert all(value.startswith("ok") for value in checks.values())


async def test_every_response_carries_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/healthz"), await client.get("/v1/documents")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"


async def test_cors_is_closed_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/v1/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_readiness_fails_while_migrations_are_behind(
    client: httpx.AsyncClient, services: Services
) -> None:
    with services.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "behind"
