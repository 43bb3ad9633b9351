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

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(services: ServicesDep) -> JSONResponse:
    """Each dependency answers; 503 until all do."""
    checks = {
        "database": _database(services),
        "migrations": _check(lambda: "ok" if migrate.is_current(services.engine) else "behind"),
        "index": _check(lambda: f"ok ({services.index.count(_PROBE_TENANT)} probe points)"),
        "model": _check(lambda: f"ok ({services.embedder.name}, {services.embedder.dimension}-d)"),
    }
    ready = all(v.startswith("ok") for v in checks.values())
    body = Health(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
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


def _database(services: ServicesDep) -> str:
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
