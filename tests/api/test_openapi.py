"""The OpenAPI document says what the server does: its security, its errors, its ids."""

from importlib import metadata
from typing import Any

import httpx

from api.http import openapi
from enclave_client.models import ErrorOut
from retrieval.models import DocumentStatus
from tests.api.conftest import World, auth


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_key_protected_operation_declares_the_bearer_scheme(
    client: httpx.AsyncClient,
) -> None:
    schema = await _schema(client)
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        **openapi.SECURITY_SCHEMES["bearerAuth"]
    }
    public = {"/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/v1/tools/openai"}
    for method, path, operation in _operations(schema):
        if path in public:
            assert "security" not in operation, (method, path)
            continue
        assert {"bearerAuth": []} in operation["security"], (method, path)
        assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


async def test_every_error_answer_is_documented_with_the_real_body(
    client: httpx.AsyncClient,
) -> None:
    schema = await _schema(client)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for method, path, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400 or path == "/readyz":
                continue
            body = response["content"]["application/json"]
            assert body["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
            ErrorOut.model_validate(body["example"])
            assert body["example"]["error"]["code"] in openapi.codes_by_status()[int(status)]


async def test_operation_ids_are_the_route_names(client: httpx.AsyncClient) -> None:
    ids = [op["operationId"] for _, _, op in _operations(await _schema(client))]
    assert len(ids) == len(set(ids))
    assert {"search", "document_upload", "job_read", "tenant_create", "key_revoke"} <= set(ids)
    assert all(i.isidentifier() and i == i.lower() for i in ids)


async def test_statuses_and_modes_are_enums(client: httpx.AsyncClient) -> None:
    schemas = (await _schema(client))["components"]["schemas"]
    document_status = schemas["DocumentOut"]["properties"]["status"]["enum"]
    assert set(document_status) == {s.value for s in DocumentStatus}
    assert schemas["JobOut"]["properties"]["status"]["enum"] == [
        "queued",
        "running",
        "done",
        "failed",
    ]
    assert schemas["SearchIn"]["properties"]["mode"]["enum"] == ["hybrid", "dense", "sparse"]


async def test_search_citation_and_upload_fields_are_described(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await _schema(client))["components"]["schemas"]
    described = ("SearchIn", "SearchFilter", "SearchHit", "CitationOut", "SearchOut")
    for name in (*described, "UploadOut", "UploadedDocument", "Body_document_upload"):
        for field, spec in schemas[name]["properties"].items():
            if "$ref" in spec or "$ref" in str(spec.get("items", "")):
                continue  # described by the model it refers to
            assert spec.get("description"), (name, field)
            binary = spec.get("items", {}).get("format") == "binary"
            assert spec.get("examples") or binary, (name, field)
    units = schemas["CitationOut"]["properties"]["char_start"]["description"]
    assert "code points" in units
    assert "UTF-16" in schemas["CitationOut"]["properties"]["utf16_start"]["description"]


async def test_media_types_are_the_ones_served(client: httpx.AsyncClient) -> None:
    paths = (await _schema(client))["paths"]
    content = paths["/v1/documents/{document_id}/content"]["get"]["responses"]["200"]["content"]
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    text = paths["/v1/documents/{document_id}/text"]["get"]["responses"]["200"]["content"]
    assert set(text) == {"text/plain"}
    upload = paths["/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["$ref"].endswith("Body_document_upload")


async def test_one_version_everywhere(client: httpx.AsyncClient) -> None:
    assert (await _schema(client))["info"]["version"] == metadata.version("enclave-search")


async def test_real_errors_are_the_documented_ones(client: httpx.AsyncClient, world: World) -> None:
    """Each status an operation answered is one its document lists, with the ErrorOut body."""
    schema = await _schema(client)
    reader = auth(world.a.keys.reader)
    answers = [
        ("POST", "/v1/search", await client.post("/v1/search", json={"query": "x"})),
        ("POST", "/v1/search", await client.post("/v1/search", json={}, headers=reader)),
        (
            "GET",
            "/v1/chunks/{chunk_id}",
            await client.get(f"/v1/chunks/{world.b.chunk_id}", headers=reader),
        ),
        (
            "GET",
            "/v1/jobs/{job_id}",
            await client.get(f"/v1/jobs/{world.a.job_id}", headers=reader),
        ),
    ]
    assert [answer.status_code for *_, answer in answers] == [401, 422, 404, 403]
    for method, path, answer in answers:
        operation = schema["paths"][path][method.lower()]
        assert str(answer.status_code) in operation["responses"], (path, answer.status_code)
        body = ErrorOut.model_validate(answer.json())
        assert body.error.code in openapi.codes_by_status()[answer.status_code]


async def test_docs_pages_load_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")
    assert "script-src 'self';" in page.headers["content-security-policy"]
    for name in openapi_assets(page.text):
        asset = await client.get(name)
        assert asset.status_code == 200, name
        assert len(asset.content) > 300
    for name in ("..%2F..%2Fsettings.py", "settings.py", "%2E%2E%2Fstatic%2Fdocs.html"):
        assert (await client.get(f"/docs/assets/{name}")).status_code == 404, name
    redoc = await client.get("/redoc")
    assert "/docs/assets/redoc.standalone.js" in redoc.text


def openapi_assets(html: str) -> list[str]:
    """The asset URLs a docs page loads."""
    found = []
    for part in html.split('"'):
        if part.startswith("/docs/assets/"):
            found.append(part)
    return found


async def test_act_as_is_offered_only_where_a_reader_is_admitted(client: httpx.AsyncClient) -> None:
    paths = (await _schema(client))["paths"]
    with_act_as: dict[str, list[str]] = {"bearerAuth": [], "actAs": []}
    assert with_act_as in paths["/v1/search"]["post"]["security"]
    assert with_act_as in paths["/v1/chunks/{chunk_id}"]["get"]["security"]
    assert with_act_as not in paths["/v1/tenants"]["post"]["security"]  # operator
    assert with_act_as not in paths["/v1/keys"]["post"]["security"]  # admin


async def test_a_bad_key_with_a_bad_body_is_401_first(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/search", json={"top_k": 999}, headers=auth("ek_nobody"))
    assert answer.status_code == 401
    schema = (await _schema(client))["paths"]["/v1/search"]["post"]
    body = schema["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SearchIn"}
    assert {"408", "413", "422"} <= set(schema["responses"])
