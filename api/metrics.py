"""Prometheus metrics: one registry per app, no tenant ids in any label."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval.models import PENDING, Document, DocumentStatus
from tenancy import system
from tenancy.db import SessionFactory

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SLOW = (0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120)


class Metrics:
    """The service's instruments."""

    def __init__(self, sessions: SessionFactory, *, documents: bool = False) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Histogram(
            "enclave_http_request_duration_seconds",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            buckets=_FAST,
            registry=r,
        )
        self.search = Histogram(
            "enclave_search_duration_seconds",
            "Searches by mode",
            ["mode"],
            buckets=_FAST,
            registry=r,
        )
        self.stages = Histogram(
            "enclave_ingest_stage_duration_seconds",
            "Ingestion stages",
            ["stage"],
            buckets=_SLOW,
            registry=r,
        )
        self.embeddings = Counter(
            "enclave_embeddings", "Passages embedded at ingestion", registry=r
        )
        self.rate_limited = Counter("enclave_rate_limited", "Requests refused with 429", registry=r)
        self.rate_limit_fallback = Counter(
            "enclave_rate_limit_fallback",
            "Requests limited by in-process buckets because the shared store (Redis) failed",
            registry=r,
        )
        self.security = Counter("enclave_security_events", "Security events", ["kind"], registry=r)
        r.register(_DocumentStates(sessions, by_status=documents))

    def observe_stage(self, stage: str, seconds: float, count: int = 0) -> None:
        """Record an ingestion stage (`count` passages for the embed stage)."""
        self.stages.labels(stage).observe(seconds)
        if stage == "embed":
            self.embeddings.inc(count)

    @contextmanager
    def time_search(self, mode: str) -> Iterator[None]:
        """Time a search."""
        start = time.perf_counter()
        yield
        self.search.labels(mode).observe(time.perf_counter() - start)

    def exposition(self) -> bytes:
        """The text format for a scrape."""
        return generate_latest(self.registry)


class _DocumentStates(Collector):
    """Documents by status and the ingestion queue depth, read from the database at scrape."""

    def __init__(self, sessions: SessionFactory, *, by_status: bool) -> None:
        self._sessions, self._by_status = sessions, by_status

    @system.wide("metrics count documents by status across tenants, never by tenant")
    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One query per scrape."""
        with self._sessions() as session:
            query = select(Document.status, func.count()).group_by(Document.status)
            rows = {status: int(count) for status, count in session.execute(query)}
        if self._by_status:  # opt-in: the whole service's documents, by status
            by_status = GaugeMetricFamily(
                "enclave_documents", "Documents by status", labels=["status"]
            )
            for status in DocumentStatus:
                by_status.add_metric([status.value], rows.get(status, 0))
            yield by_status
        depth = sum(rows.get(status, 0) for status in PENDING)
        yield GaugeMetricFamily(
            "enclave_ingest_queue_depth", "Documents waiting or in work", value=depth
        )


class MetricsMiddleware:
    """Times every HTTP request, labelled by the matched route's template, never its ids."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], Metrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Observe the duration and final status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        start = time.perf_counter()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self._observe(scope, status["code"], time.perf_counter() - start)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        metrics = self.metrics()
        if metrics is None:
            return
        route = getattr(scope.get("route"), "path", "unmatched")
        metrics.requests.labels(scope["method"], route, str(status)).observe(seconds)
