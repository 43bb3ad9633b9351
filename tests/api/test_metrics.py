"""/metrics: present, moving after real traffic, and free of tenant ids."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import Metrics
from api.services import Services
from tests.factories import auth, fixture_file, ingest, make_tenant, search


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_with_traffic_and_name_no_tenant(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    await ingest(client, services, acme.admin, [fixture_file("acme", "handbook.md")])
    for mode in ("dense", "hybrid"):
        await search(client, acme.reader, "safety", mode=mode)
    await client.get("/v1/documents", headers=auth("ek_wrong"))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert _value(samples, "enclave_search_duration_seconds_count", mode="dense") == 1
    assert _value(samples, "enclave_search_duration_seconds_count", mode="hybrid") == 1
    search_route = {"method": "POST", "route": "/v1/search", "status": "200"}
    assert _value(samples, "enclave_http_request_duration_seconds_count", **search_route) == 2
    for stage in ("parse", "chunk", "embed", "upsert"):
        assert _value(samples, "enclave_ingest_stage_duration_seconds_count", stage=stage) >= 1
    assert _value(samples, "enclave_embeddings_total") > 0
    assert not any(name == "enclave_documents" for name, _ in samples)  # opt-in only
    assert _value(samples, "enclave_ingest_queue_depth") == 0
    services.metrics = Metrics(services.sessions, documents=True)
    detailed = _samples((await client.get("/metrics")).text)
    assert _value(detailed, "enclave_documents", status="ready") == 1
    assert _value(samples, "enclave_security_events_total", kind="unauthenticated") == 1
    assert acme.id not in response.text
    doc_route = [k for k in samples if ("route", "/v1/documents/{document_id}") in k[1]]
    assert doc_route == [] or all(acme.id not in str(k) for k in doc_route)


async def test_rate_limited_requests_are_counted(
    client: httpx.AsyncClient, services: Services
) -> None:
    acme = await make_tenant(client, "Acme")
    services.settings.key_rate_per_second, services.settings.key_rate_burst = 0.1, 1
    for _ in range(3):
        await client.get("/v1/documents", headers=auth(acme.reader))
    samples = _samples((await client.get("/metrics")).text)
    assert _value(samples, "enclave_rate_limited_total") == 2
