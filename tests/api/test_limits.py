"""Rate limits and quotas through the API: 429 with Retry-After, 413 with the quota named."""

import httpx

from api.services import Services
from tests.factories import OPERATOR, auth, fixture_file, ingest, make_tenant, upload


async def test_a_key_over_its_rate_gets_429_with_retry_after(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    services.settings.key_rate_per_second, services.settings.key_rate_burst = 0.5, 3
    statuses = [
        (await client.get("/v1/documents", headers=auth(acme.reader))).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = await client.get("/v1/documents", headers=auth(acme.reader))
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    other_key = await client.get("/v1/documents", headers=auth(acme.admin))
    assert other_key.status_code == 200


async def test_a_tenant_override_limits_all_its_keys_together(client: httpx.AsyncClient) -> None:
    acme = await make_tenant(client, "Acme")
    globex = await make_tenant(client, "Globex")
    body = {"rate_per_second": 0.1, "rate_burst": 2}
    response = await client.put(f"/v1/tenants/{acme.id}/limits", json=body, headers=OPERATOR)
    assert response.json()["limits"]["rate_burst"] == 2
    keys = [acme.admin, acme.reader, acme.admin]
    statuses = [(await client.get("/v1/documents", headers=auth(k))).status_code for k in keys]
    assert statuses == [200, 200, 429]
    assert (await client.get("/v1/documents", headers=auth(globex.reader))).status_code == 200


async def test_limits_can_only_be_set_by_the_operator_and_must_be_sane(
    client: httpx.AsyncClient,
) -> None:
    acme = await make_tenant(client, "Acme")
    path = f"/v1/tenants/{acme.id}/limits"
    assert (
        await client.put(path, json={"max_documents": 5}, headers=auth(acme.admin))
    ).status_code == 403
    assert (await client.put(path, json={"max_documents": 0}, headers=OPERATOR)).status_code == 422
    assert (await client.put(path, json={"unknown": 1}, headers=OPERATOR)).status_code == 422


async def test_the_document_quota_refuses_an_upload_whole(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    await client.put(f"/v1/tenants/{acme.id}/limits", json={"max_documents": 2}, headers=OPERATOR)
    await ingest(client, services, acme.admin, [fixture_file("acme", "policy.txt")])
    response = await upload(
        client, acme.admin, [fixture_file("acme", "faq.html"), fixture_file("acme", "handbook.md")]
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "quota_exceeded"
    assert "document quota of 2" in response.json()["error"]["message"]
    listing = (await client.get("/v1/documents", headers=auth(acme.reader))).json()["documents"]
    assert [d["filename"] for d in listing] == ["policy.txt"]
    blobs = [p for p in (services.settings.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    again = await upload(client, acme.admin, [fixture_file("acme", "policy.txt")])
    assert again.status_code == 202  # a duplicate adds nothing, so it is within quota


async def test_the_byte_quota_names_the_limit(
    client: httpx.AsyncClient, services: Services
) -> None:
    services.settings.max_bytes = 1000
    acme = await make_tenant(client, "Acme")
    response = await upload(client, acme.admin, [fixture_file("acme", "handbook.md")])
    assert response.status_code == 413
    assert "storage (bytes) quota of 1000" in response.json()["error"]["message"]


async def test_the_chunk_quota_fails_the_document_that_would_pass_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    await client.put(f"/v1/tenants/{acme.id}/limits", json={"max_chunks": 3}, headers=OPERATOR)
    job = await ingest(client, services, acme.admin, [fixture_file("acme", "handbook.md")])
    assert job["progress"]["failed"] == 1
    assert "chunk quota of 3" in job["documents"][0]["error"]


async def test_documents_of_one_batch_share_the_chunk_quota(
    client: httpx.AsyncClient, services: Services
) -> None:
    files = [fixture_file("acme", "handbook.md"), fixture_file("acme", "policy.txt")]
    measure = await make_tenant(client, "Measure")
    await ingest(client, services, measure.admin, files)
    counts = await _chunk_counts(client, measure.reader)
    limit = sum(counts.values()) - 1  # room for either document, not for both
    acme = await make_tenant(client, "Acme")
    await client.put(f"/v1/tenants/{acme.id}/limits", json={"max_chunks": limit}, headers=OPERATOR)
    job = await ingest(client, services, acme.admin, files)
    statuses = {d["filename"]: (d["status"], d["error"]) for d in job["documents"]}
    assert statuses["handbook.md"] == ("ready", None)  # first in the batch, first served
    assert statuses["policy.txt"][0] == "failed"
    assert f"chunk quota of {limit}" in statuses["policy.txt"][1]
    assert await _chunk_counts(client, acme.reader) == {
        "handbook.md": counts["handbook.md"],
        "policy.txt": 0,
    }


async def _chunk_counts(client: httpx.AsyncClient, key: str) -> dict[str, int]:
    listing = (await client.get("/v1/documents", headers=auth(key))).json()["documents"]
    return {d["filename"]: d["chunk_count"] for d in listing}


async def test_a_full_ingestion_queue_answers_429_and_stores_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    globex = await make_tenant(client, "Globex")
    services.settings.max_queue_depth = 2
    first = await upload(client, acme.admin, [fixture_file("acme", "policy.txt")])
    assert first.status_code == 202
    refused = await upload(
        client, globex.admin, [fixture_file("globex", n) for n in ("policy.txt", "handbook.md")]
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "queue_full"
    assert "ingestion queue is full (1 documents waiting, limit 2)" in refused.text
    assert int(refused.headers["retry-after"]) >= 1
    listed = await client.get("/v1/documents", headers=auth(globex.admin))
    assert listed.json()["documents"] == []
    # The same bytes again add no work; once the queue drains, uploads are accepted again.
    again = await upload(client, acme.admin, [fixture_file("acme", "policy.txt")])
    assert again.status_code == 202
    services.worker.drain()
    retried = await upload(
        client, globex.admin, [fixture_file("globex", n) for n in ("policy.txt", "handbook.md")]
    )
    assert retried.status_code == 202


async def test_a_search_refused_for_its_rate_is_audited_as_the_callers(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    services.settings.key_rate_per_second, services.settings.key_rate_burst = 0.5, 1
    first = await client.post("/v1/search", json={"query": "x"}, headers=auth(acme.reader))
    refused = await client.post("/v1/search", json={"query": "x"}, headers=auth(acme.reader))
    assert (first.status_code, refused.status_code) == (200, 429)
    services.settings.key_rate_per_second, services.settings.key_rate_burst = 1000, 1000
    events = await client.get("/v1/audit?action=search", headers=auth(acme.admin))
    outcomes = [e["outcome"] for e in events.json()["events"]]
    assert outcomes == ["ok", "rate_limited"]
