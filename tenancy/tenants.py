"""Tenants: created, listed and tuned by the operator."""

import uuid
from dataclasses import dataclass

from sqlalchemy import delete as delete_statement
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenancy.errors import Conflict, NotFound
from tenancy.limits import Quota, Rate
from tenancy.models import Tenant


@dataclass(frozen=True)
class Limits:
    """A tenant's overrides; None keeps the service default."""

    rate_per_second: float | None = None
    rate_burst: int | None = None
    max_documents: int | None = None
    max_bytes: int | None = None
    max_chunks: int | None = None


def create(session: Session, *, name: str) -> Tenant:
    """A new tenant; names are unique."""
    tenant = Tenant(name=name)
    try:
        with session.begin_nested():
            session.add(tenant)
    except IntegrityError as exc:
        raise Conflict(f"a tenant named {name!r} already exists") from exc
    return tenant


def list_all(session: Session, *, limit: int = 100, offset: int = 0) -> list[Tenant]:
    """All tenants, oldest first (those being erased are gone)."""
    query = select(Tenant).where(Tenant.erasing_at.is_(None))
    query = query.order_by(Tenant.created_at, Tenant.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def get(session: Session, tenant_id: uuid.UUID, *, erasing: bool = False) -> Tenant:
    """One tenant, or NotFound; one being erased is gone unless `erasing` (to finish it)."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or (tenant.erasing_at is not None and not erasing):
        raise NotFound("tenant")
    return tenant


def set_limits(session: Session, tenant_id: uuid.UUID, limits: Limits) -> Tenant:
    """Replace the tenant's overrides."""
    tenant = get(session, tenant_id)
    tenant.rate_per_second, tenant.rate_burst = limits.rate_per_second, limits.rate_burst
    tenant.max_documents, tenant.max_bytes = limits.max_documents, limits.max_bytes
    tenant.max_chunks = limits.max_chunks
    session.flush()
    return tenant


@dataclass(frozen=True)
class RateOverride:
    """What a tenant set of its own request rate (None: the default's)."""

    per_second: float | None
    burst: int | None

    def over(self, default: Rate) -> Rate:
        """The tenant's rate: its own values where set, else the default's."""
        return Rate(self.per_second or default.per_second, self.burst or default.burst)


def quota(tenant: Tenant, default: Quota) -> Quota:
    """The tenant's storage quota: its overrides or the defaults."""
    return Quota(
        max_documents=tenant.max_documents or default.max_documents,
        max_bytes=tenant.max_bytes or default.max_bytes,
        max_chunks=tenant.max_chunks or default.max_chunks,
    )


def delete(session: Session, tenant_id: uuid.UUID) -> None:
    """Remove the tenant's row (its data is erased first: `ingest.erasure.delete_tenant`)."""
    session.execute(delete_statement(Tenant).where(Tenant.id == tenant_id))
    session.flush()
