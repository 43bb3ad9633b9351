"""The composition root: `create_app(settings)` builds everything in its lifespan."""

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import services, tracing, version
from api.http import handlers, openapi
from api.http.middleware import BodyLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from api.http.routes import (
    act_as,
    admin,
    audit,
    console,
    docs,
    documents,
    health,
    jobs,
    keys,
    operators,
    search,
    sources,
    tenants,
    tools,
)
from api.mcp import mount
from api.metrics import Metrics, MetricsMiddleware
from api.ops import migrate
from api.settings import Settings
from retrieval.embed import Embedder
from tenancy import operators as operator_keys

log = logging.getLogger("enclave")

VERSION = version.VERSION
DESCRIPTION = """Tenant-isolated retrieval with exact citations.

Authenticate with `Authorization: Bearer <key>`: the key decides the tenant and the role
(operator, admin, reader). Every error answers `{"error": {"code", "message"}}`.
The admin console: `/console`. Interactive docs: `/docs` (Swagger UI) and `/redoc`; the same
tools over MCP at `/mcp`."""


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    long_lived: bool = False,
) -> FastAPI:
    """The FastAPI application; nothing is built until the lifespan starts. `long_lived`:
    the process's one app (`enclave serve`), whose startup heap is then frozen (`_settle`)."""
    config = settings or Settings()
    mcp = mount.build()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracer_provider = tracing.configure(config)
        built = services.build(config, embedder=embedder)
        try:
            migrate.upgrade(built.engine)
            _bootstrap_operator(built)
            if config.workers == "embedded":
                built.worker.start()
            built.anchorer.start()
            if built.checkpointer is not None:
                built.checkpointer.start()
            app.state.services = built
            if long_lived:
                _settle()
            async with mcp.running():
                yield
        finally:
            if long_lived:
                gc.unfreeze()
            built.close()
            tracing.shutdown(tracer_provider)  # after the worker stopped: its spans are flushed too

    app = FastAPI(
        title="Enclave",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=tracing.FASTAPI_TELEMETRY,
        docs_url=None,  # served by `routes.docs`, with no CDN
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    handlers.install(app)
    openapi.install(app)
    app.add_middleware(BodyLimitMiddleware, upload_bytes=int(config.max_request_mb * 1024 * 1024))
    app.add_middleware(MetricsMiddleware, metrics=lambda: _metrics(app))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    # Routes are matched in order: the search, the hot path, is tried first.
    routers = (
        search,
        docs,
        console,
        health,
        tenants,
        operators,
        keys,
        act_as,
        documents,
        sources,
        jobs,
        audit,
        tools,
        admin,
    )
    for module in routers:
        app.include_router(module.router)
    app.router.routes.append(mcp.route("/mcp"))
    return app


def _settle() -> None:
    """Collect once, then freeze what startup left alive (the model, the mappers, the routes,
    the open shards): the collector's full passes then walk only what requests made since.
    Under 16 clients one full pass every ~600 searches stopped every thread for ~0.2 s, half
    the server's p99 (`benchmarks/stages.py` prints the pauses)."""
    gc.collect()
    gc.freeze()


def _metrics(app: FastAPI) -> Metrics | None:
    services_ = getattr(app.state, "services", None)
    return services_.metrics if services_ is not None else None


def _bootstrap_operator(built: services.Services) -> None:
    with built.sessions.begin() as session:
        new_key = operator_keys.ensure(session, built.settings.operator_key)
    if new_key:
        # Printed once: only its hash is stored.
        print(
            f"\nEnclave operator key (shown once, store it now): {new_key}\n",
            file=sys.stderr,
            flush=True,
        )
