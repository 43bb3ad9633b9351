"""Documents: upload, status, text, content, delete; bad input is a clear 4xx."""

import httpx
import pytest

from api.services import Services
from tests.factories import (
    FIXTURES,
    TenantKeys,
    auth,
    fixture_file,
    ingest,
    make_tenant,
    search,
    upload,
)


@pytest.fixture
async def acme(client: httpx.AsyncClient) -> TenantKeys:
    return await make_tenant(client, "Acme Robotics")


@pytest.mark.parametrize(
    ("name", "media_type", "pages"),
    [
        ("handbook.md", "text/markdown", None),
        ("policy.txt", "text/plain", None),
        ("faq.html", "text/html", None),
        ("report.pdf", "application/pdf", 2),
    ],
)
async def test_foundation_formats_are_indexed_with_citations(
    client: httpx.AsyncClient,
    services: Services,
    acme: TenantKeys,
    name: str,
    media_type: str,
    pages: int | None,
) -> None:
    job = await ingest(client, services, acme.admin, [fixture_file("acme", name)])
    assert job["status"] == "done"
    assert job["progress"] == {"total": 1, "done": 1, "failed": 0}
    doc_id = job["documents"][0]["id"]
    doc = (await client.get(f"/v1/documents/{doc_id}", headers=auth(acme.reader))).json()
    assert (doc["status"], doc["media_type"], doc["version"]) == ("ready", media_type, 1)
    assert doc["chunk_count"] > 0
    assert (doc["page_count"] or None) == pages
    text = (await client.get(f"/v1/documents/{doc_id}/text", headers=auth(acme.reader))).text
    assert "ACME-7731" in text or "Acme" in text


async def test_pdf_citations_carry_the_page(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    await ingest(client, services, acme.admin, [fixture_file("acme", "report.pdf")])
    response = await search(client, acme.reader, "ACME-7731", mode="sparse", top_k=10)
    pages = {h["citation"]["page_start"] for h in response.json()["results"]}
    assert pages <= {1, 2}
    assert None not in pages


async def test_content_returns_the_original_bytes(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    name, data = fixture_file("acme", "faq.html")
    job = await ingest(client, services, acme.admin, [(name, data)])
    response = await client.get(
        f"/v1/documents/{job['documents'][0]['id']}/content", headers=auth(acme.reader)
    )
    assert response.content == data
    assert response.headers["content-type"].startswith("text/html")


async def test_same_bytes_twice_are_one_document(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    first = await ingest(client, services, acme.admin, [fixture_file("acme", "policy.txt")])
    again = await upload(client, acme.admin, [fixture_file("acme", "policy.txt")])
    body = again.json()
    assert body["documents"][0]["id"] == first["documents"][0]["id"]
    assert body["documents"][0]["duplicate"] is True
    listing = (await client.get("/v1/documents", headers=auth(acme.reader))).json()
    assert len(listing["documents"]) == 1


async def test_a_bad_file_fails_alone_and_its_sibling_is_indexed(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    bad = ("encrypted.pdf", (FIXTURES / "bad" / "encrypted.pdf").read_bytes())
    job = await ingest(client, services, acme.admin, [bad, fixture_file("acme", "policy.txt")])
    assert job["progress"] == {"total": 2, "done": 1, "failed": 1}
    failed = (await client.get("/v1/documents?status=failed", headers=auth(acme.reader))).json()[
        "documents"
    ]
    assert [d["filename"] for d in failed] == ["encrypted.pdf"]
    assert "encrypted" in failed[0]["error"].lower()


async def test_a_type_mismatch_is_415_and_stores_nothing(
    client: httpx.AsyncClient, acme: TenantKeys
) -> None:
    mismatch = ("mismatch.pdf", (FIXTURES / "bad" / "mismatch.pdf").read_bytes())
    response = await upload(client, acme.admin, [fixture_file("acme", "policy.txt"), mismatch])
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert (await client.get("/v1/documents", headers=auth(acme.reader))).json()["documents"] == []


async def test_binary_named_as_text_is_415(client: httpx.AsyncClient, acme: TenantKeys) -> None:
    binary = ("binary.txt", (FIXTURES / "bad" / "binary.txt").read_bytes())
    response = await upload(client, acme.admin, [binary])
    assert response.status_code == 415


async def test_an_oversized_file_is_413(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    services.settings.max_upload_mb = 0.001
    response = await upload(client, acme.admin, [fixture_file("acme", "handbook.md")])
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "metadata", ["not json", '{"tags": "x"}', '{"tenant_id": "x"}', '{"tags": [""]}']
)
async def test_bad_metadata_is_422(
    client: httpx.AsyncClient, acme: TenantKeys, metadata: str
) -> None:
    response = await client.post(
        "/v1/documents",
        files=[("files", ("a.txt", b"hello world", "text/plain"))],
        data={"metadata": metadata},
        headers=auth(acme.admin),
    )
    assert response.status_code == 422, response.text


async def test_an_upload_without_files_is_422(client: httpx.AsyncClient, acme: TenantKeys) -> None:
    response = await client.post("/v1/documents", data={"metadata": "{}"}, headers=auth(acme.admin))
    assert response.status_code == 422


async def test_delete_erases_everything_and_returns_a_receipt(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    job = await ingest(client, services, acme.admin, [fixture_file("acme", "handbook.md")])
    doc_id = job["documents"][0]["id"]
    chunk_count = (await client.get(f"/v1/documents/{doc_id}", headers=auth(acme.reader))).json()[
        "chunk_count"
    ]
    receipt = (await client.delete(f"/v1/documents/{doc_id}", headers=auth(acme.admin))).json()
    assert receipt["documents"] == 1
    assert receipt["chunks"] == receipt["vectors"] == chunk_count
    assert receipt["blobs"] == 1
    for path in ("", "/text", "/content"):
        gone = await client.get(f"/v1/documents/{doc_id}{path}", headers=auth(acme.reader))
        assert gone.status_code == 404
    for mode in ("dense", "sparse", "hybrid"):
        found = await search(client, acme.reader, "ACME-7731 handbook", mode=mode)
        assert found.json()["results"] == []
    assert not any((services.settings.data_dir / "blobs").rglob("*.md"))
    assert not [p for p in (services.settings.data_dir / "blobs").rglob("*") if p.is_file()]


async def test_a_new_version_replaces_the_old_one_when_ready(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    meta = {"external_id": "policy"}
    first = await ingest(
        client, services, acme.admin, [("policy.txt", b"The old rule: badges are blue.")], meta
    )
    response = await upload(
        client, acme.admin, [("policy.txt", b"The new rule: badges are green.")], meta
    )
    new_id = response.json()["documents"][0]["id"]
    before = await search(client, acme.reader, "badges rule", mode="sparse")
    assert [h["text"] for h in before.json()["results"]] == ["The old rule: badges are blue."]
    services.worker.drain()
    after = await search(client, acme.reader, "badges rule", mode="sparse")
    assert [h["text"] for h in after.json()["results"]] == ["The new rule: badges are green."]
    new = (await client.get(f"/v1/documents/{new_id}", headers=auth(acme.reader))).json()
    old = (
        await client.get(f"/v1/documents/{first['documents'][0]['id']}", headers=auth(acme.reader))
    ).json()
    assert (new["version"], new["status"], old["status"]) == (2, "ready", "superseded")


async def test_listing_filters_by_tag_and_paginates(
    client: httpx.AsyncClient, services: Services, acme: TenantKeys
) -> None:
    await ingest(
        client, services, acme.admin, [fixture_file("acme", "policy.txt")], {"tags": ["hr"]}
    )
    await ingest(
        client,
        services,
        acme.admin,
        [fixture_file("acme", "faq.html"), fixture_file("acme", "handbook.md")],
    )
    tagged = (await client.get("/v1/documents?tag=hr", headers=auth(acme.reader))).json()
    assert [d["filename"] for d in tagged["documents"]] == ["policy.txt"]
    page = (await client.get("/v1/documents?limit=2", headers=auth(acme.reader))).json()
    rest = (
        await client.get(
            f"/v1/documents?limit=2&offset={page['next_offset']}", headers=auth(acme.reader)
        )
    ).json()
    assert len(page["documents"]) == 2
    assert len(rest["documents"]) == 1
    bad = await client.get("/v1/documents?status=bogus", headers=auth(acme.reader))
    assert bad.status_code == 422
