"""Tracing: request → search → embed / index query, batch → ingest stages, and no tenant text."""

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api import tracing
from api.services import Services
from api.settings import Settings
from tests.factories import auth, fixture_file, ingest, make_tenant, search, upload
from tests.fakes import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
# Words of the query and of the handbook that no span may carry.
QUERY = "zebra quokka safety rules on the robot floor"
SECRETS = ("zebra", "quokka", "Roadrunner", "ACME-7731", "handbook.md")


@pytest.fixture(scope="module")
def memory() -> Iterator[InMemorySpanExporter]:
    """An SDK provider recording in memory (OpenTelemetry allows one per process, set once)."""
    exporter = InMemorySpanExporter()
    current = trace.get_tracer_provider()
    provider = current if isinstance(current, TracerProvider) else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    if provider is not current:
        trace.set_tracer_provider(provider)
    yield exporter
    exporter.shutdown()  # the provider cannot be unset; later tests' spans are just dropped


@pytest.fixture
def spans(memory: InMemorySpanExporter) -> InMemorySpanExporter:
    """The recorder, emptied for this test."""
    memory.clear()
    return memory


def _one(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in finished if s.name == name]
    assert len(found) == 1, [s.name for s in finished]
    return found[0]


def _is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None
    assert parent.context is not None
    return bool(child.parent.span_id == parent.context.span_id)


def _descends(
    span: ReadableSpan, ancestor: ReadableSpan, finished: tuple[ReadableSpan, ...]
) -> bool:
    """Whether `ancestor` is on `span`'s parent chain (FastAPI puts its endpoint span between)."""
    by_id = {s.context.span_id: s for s in finished if s.context is not None}
    current: ReadableSpan | None = span
    while current is not None and current.parent is not None:
        current = by_id.get(current.parent.span_id)
        if current is ancestor:
            return True
    return False


def _leaked(finished: tuple[ReadableSpan, ...]) -> list[str]:
    """Every secret word found in a span's name, attributes, events or status."""
    texts = [s.name + str(dict(s.attributes or {})) + str(s.status.description) for s in finished]
    texts += [str(e.attributes) for s in finished for e in s.events]
    return [word for word in SECRETS for text in texts if word.lower() in text.lower()]


async def test_a_search_request_nests_search_embed_and_index_query(
    client: httpx.AsyncClient, services: Services, spans: InMemorySpanExporter
) -> None:
    acme = await make_tenant(client, "Acme")
    await ingest(client, services, acme.admin, [fixture_file("acme", "handbook.md")])
    spans.clear()
    response = await search(client, acme.reader, QUERY, mode="hybrid", top_k=3)
    assert response.status_code == 200, response.text
    finished = spans.get_finished_spans()
    request = _one(finished, "POST /v1/search")
    found, embed, index = (
        _one(finished, n) for n in ("search", "search.embed", "search.index_query")
    )
    assert request.kind is trace.SpanKind.SERVER
    assert request.parent is None
    assert request.attributes is not None
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.route"] == "/v1/search"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["enclave.request_id"] == response.headers["x-request-id"]
    assert _descends(found, request, finished)
    assert _is_child(embed, found)
    assert _is_child(index, found)
    assert found.attributes is not None
    assert found.attributes["enclave.tenant.id"] == acme.id
    assert found.attributes["enclave.search.mode"] == "hybrid"
    assert found.attributes["enclave.search.top_k"] == 3
    assert found.attributes["enclave.search.hits"] == len(response.json()["results"]) > 0
    assert _leaked(finished) == []


async def test_the_span_is_named_by_the_route_template_not_the_path(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    acme = await make_tenant(client, "Acme")
    spans.clear()
    missing = uuid.uuid4()
    response = await client.get(f"/v1/documents/{missing}", headers=auth(acme.reader))
    assert response.status_code == 404
    request = _one(spans.get_finished_spans(), "GET /v1/documents/{document_id}")
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/v1/documents/{document_id}"
    assert request.attributes["http.response.status_code"] == 404


async def test_an_unmatched_path_is_named_by_its_method_only(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await client.get("/no/such/path")
    (request,) = spans.get_finished_spans()
    assert request.name == "GET"


async def test_a_callers_trace_context_is_continued(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent_id}-01"}
    await client.get("/healthz", headers=headers)
    request = _one(spans.get_finished_spans(), "GET /healthz")
    assert request.context is not None
    assert request.parent is not None
    assert request.context.trace_id == int(trace_id, 16)
    assert request.parent.span_id == int(parent_id, 16)


async def test_ingestion_traces_a_batch_and_its_stages(
    client: httpx.AsyncClient, services: Services, spans: InMemorySpanExporter
) -> None:
    acme = await make_tenant(client, "Acme")
    uploaded = await upload(client, acme.admin, [fixture_file("acme", "handbook.md")])
    assert uploaded.status_code == 202, uploaded.text
    spans.clear()
    services.worker.drain()
    finished = spans.get_finished_spans()
    batch = _one(finished, "ingest.batch")
    assert batch.parent is None  # the worker's batch is the root of its trace
    assert batch.attributes is not None
    assert batch.attributes["enclave.ingest.documents"] == 1
    stages = [_one(finished, f"ingest.{n}") for n in ("parse", "chunk", "embed", "upsert")]
    assert all(_is_child(stage, batch) for stage in stages)
    parse, chunk, embed, upsert = (s.attributes or {} for s in stages)
    assert parse["enclave.tenant.id"] == acme.id
    assert parse["enclave.document.media_type"] == "text/markdown"
    assert chunk["enclave.ingest.chunks"] == embed["enclave.ingest.chunks"]
    assert upsert["enclave.ingest.points"] == chunk["enclave.ingest.chunks"]
    assert _leaked(finished) == []


class QuotingEmbedder(HashingEmbedder):
    """Fails the way real code can: with the tenant's text in the exception message."""

    def embed_query(self, text: str) -> list[float]:
        """Refuse, quoting the query."""
        raise RuntimeError(f"cannot embed {text!r}")


async def test_a_failure_is_named_by_its_type_and_never_quotes_its_message(
    client: httpx.AsyncClient, services: Services, spans: InMemorySpanExporter
) -> None:
    acme = await make_tenant(client, "Acme")
    services.embedder = QuotingEmbedder()
    spans.clear()
    with pytest.raises(RuntimeError, match="zebra"):  # the in-process client re-raises it
        await search(client, acme.reader, QUERY, mode="dense")
    finished = spans.get_finished_spans()
    names = ("POST /v1/search", "search", "search.embed")
    for span in (_one(finished, name) for name in names):
        assert span.status.status_code is trace.StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "RuntimeError"
    for span in finished:
        assert span.status.description is None
        assert not span.events
    assert _leaked(finished) == []


def test_configure_installs_nothing_over_an_existing_provider(
    memory: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    before = trace.get_tracer_provider()
    assert tracing.configure(Settings(otel_exporter_otlp_endpoint=None)) is None
    with caplog.at_level(logging.WARNING, logger="enclave"):
        assert tracing.configure(Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:9")) is None
    assert trace.get_tracer_provider() is before
    assert "already installed" in caplog.text


# In a fresh interpreter: the global provider can be set only once per process.
PROBE = """
from opentelemetry import trace
from api import tracing
from api.settings import Settings

provider = tracing.configure(Settings())
if provider is None:
    print("none", type(trace.get_tracer_provider()).__name__)
else:
    (processor,) = provider._active_span_processor._span_processors
    exporter = processor._batch_processor._exporter
    print(
        type(processor).__name__,
        type(exporter).__name__,
        exporter._endpoint,
        provider.resource.attributes["service.name"],
        trace.get_tracer_provider() is provider,
    )
    tracing.shutdown(provider)
"""


def _configure_in_fresh_process(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ENCLAVE_"))}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE],
        env=clean | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "none ProxyTracerProvider"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/"},
            "BatchSpanProcessor OTLPSpanExporter http://127.0.0.1:9/v1/traces enclave True",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "search-eu"},
            "BatchSpanProcessor OTLPSpanExporter http://127.0.0.1:9/v1/traces search-eu True",
        ),
    ],
)
def test_configure_exports_over_otlp_only_when_an_endpoint_is_set(
    env: dict[str, str], expected: str
) -> None:
    assert _configure_in_fresh_process(**env) == expected
