"""Tenants: created and listed by the operator."""

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenancy.errors import Conflict, NotFound
from tenancy.models import Tenant


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
    """All tenants, oldest first."""
    query = select(Tenant).order_by(Tenant.created_at, Tenant.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def get(session: Session, tenant_id: uuid.UUID) -> Tenant:
    """One tenant, or NotFound."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant")
    return tenant
