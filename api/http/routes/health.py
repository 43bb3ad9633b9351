"""Liveness, readiness and metrics."""

import uuid
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from api.http.deps import ServicesDep
from api.metrics import CONTENT_TYPE
from api.ops import migrate
from api.schemas import Health
from tenancy.ids import TenantId
from tenancy.limits import FallbackBuckets

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "A dependency does not answer."}},
)
def readyz(services: ServicesDep) -> JSONResponse:
    """Each dependency answers; 503 until all do."""
    checks = {
        "database": _database(services),
        "migrations": _check(lambda: "ok" if migrate.is_current(services.engine) else "behind"),
        "index": _check(lambda: f"ok ({services.index.count(_PROBE_TENANT)} probe points)"),
        "model": _check(lambda: f"ok ({services.embedder.name}, {services.embedder.dimension}-d)"),
    }
    if isinstance(services.buckets, FallbackBuckets):
        checks["redis"] = _redis(services.buckets)
    checks["disk"] = _disk(services)
    # Redis only shares rate limits: without it the service still serves (limits per process);
    # a disk below its reserve refuses new documents but every read still works.
    ready = all(v.startswith(("ok", "degraded")) for v in checks.values())
    body = Health(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/.well-known/jwks.json", name="jwks")
def jwks(services: ServicesDep) -> dict[str, list[dict[str, str]]]:
    """The public keys, current and retired, that verify search receipts and checkpoints."""
    return services.signing.jwks()


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition (no tenant ids in any label)."""
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)


# An id no tenant has: counting its points exercises the index without touching data.
_PROBE_TENANT = TenantId(uuid.UUID(int=0))


def _check(probe: Callable[[], str]) -> str:
    try:
        return probe()
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _redis(buckets: FallbackBuckets) -> str:
    try:
        buckets.ping()
    except Exception as exc:
        return f"degraded: {type(exc).__name__} (rate limits per process)"
    return "ok"


def _disk(services: ServicesDep) -> str:
    free_mb = services.disk.free() >> 20
    if services.disk.low():
        return f"degraded: {free_mb} MB free, below the reserve (read-only: uploads answer 507)"
    return f"ok ({free_mb} MB free)"


def _database(services: ServicesDep) -> str:
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
