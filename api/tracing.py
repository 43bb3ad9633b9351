"""OpenTelemetry: traces exported over OTLP/HTTP when an endpoint is configured.

FastAPI makes the SERVER span of each request (named by route template) once a provider is
installed; domain code adds its spans through the OpenTelemetry API, a no-op until then.
"""

import logging

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from api.settings import Settings

log = logging.getLogger("enclave")
DEFAULT_SERVICE_NAME = "enclave"
# FastAPI's native telemetry, minus its logs (they carry exception messages, which can
# quote tenant text) and its environment auto-setup (`configure` exports traces only).
FASTAPI_TELEMETRY: TelemetryConfig = {"logs": False, "auto_configure": False}


def configure(settings: Settings) -> TracerProvider | None:
    """Install an SDK provider exporting over OTLP/HTTP when an endpoint is set; else nothing."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return None
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # OpenTelemetry keeps the first provider of a process (an agent's, say) and ignores
        # any later one with a warning: keep it rather than pretend to export.
        log.warning("a tracer provider is already installed; Enclave's OTLP exporter is not used")
        return None
    provider = TracerProvider(resource=resource())
    provider.add_span_processor(exporting(endpoint))
    trace.set_tracer_provider(provider)
    return provider


def exporting(base: str) -> BatchSpanProcessor:
    """Batched OTLP/HTTP export to the collector at `base`."""
    # The SDK's rule for the base-URL variable: the signal's path is appended.
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base.removesuffix('/')}/v1/traces"))


def resource() -> Resource:
    """The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`); named `enclave`."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return detected


def shutdown(provider: TracerProvider | None) -> None:
    """Flush the spans still batched and stop the exporter that `configure` installed."""
    if provider is not None:
        provider.shutdown()
