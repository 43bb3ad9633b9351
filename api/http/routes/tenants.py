"""Operator routes: tenants and their first keys."""

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Query

from api.http.deps import IndexWrites, OperatorCtx, ServicesDep
from api.schemas import (
    MAX_INT,
    KeyIn,
    KeyIssued,
    KeyOut,
    TenantIn,
    TenantLimits,
    TenantOut,
)
from enclave_client.models import Receipt
from ingest import erasure
from tenancy import keys, tenants

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.post("", status_code=201, name="tenant.create")
def create_tenant(body: TenantIn, ctx: OperatorCtx) -> TenantOut:
    """Create a tenant."""
    tenant = tenants.create(ctx.session, name=body.name)
    ctx.record([str(tenant.id)])
    return TenantOut.of(tenant)


@router.get("", name="tenant.list")
def list_tenants(
    ctx: OperatorCtx,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_INT),
) -> list[TenantOut]:
    """List tenants, oldest first."""
    rows = tenants.list_all(ctx.session, limit=limit, offset=offset)
    ctx.record()
    return [TenantOut.of(t) for t in rows]


@router.get("/{tenant_id}", name="tenant.read")
def get_tenant(tenant_id: uuid.UUID, ctx: OperatorCtx) -> TenantOut:
    """Show one tenant."""
    tenant = tenants.get(ctx.session, tenant_id)
    ctx.record([str(tenant_id)])
    return TenantOut.of(tenant)


@router.put("/{tenant_id}/limits", name="tenant.limits")
def set_tenant_limits(tenant_id: uuid.UUID, body: TenantLimits, ctx: OperatorCtx) -> TenantOut:
    """Override the tenant's rate limit and quotas (null: back to the service default)."""
    tenant = tenants.set_limits(ctx.session, tenant_id, tenants.Limits(**body.model_dump()))
    ctx.record([str(tenant_id)], **body.model_dump())
    return TenantOut.of(tenant)


@router.delete("/{tenant_id}", name="tenant.delete", dependencies=[IndexWrites])
def delete_tenant(tenant_id: uuid.UUID, ctx: OperatorCtx, services: ServicesDep) -> Receipt:
    """Erase everything of a tenant; the receipt counts what was removed."""
    receipt = erasure.delete_tenant(
        ctx.session, services.index, services.blobs, tenant_id, intent=ctx.intent
    )
    ctx.record([str(tenant_id)], **asdict(receipt))
    return Receipt(**asdict(receipt))


@router.post("/{tenant_id}/keys", status_code=201, name="tenant.key.issue")
def issue_tenant_key(tenant_id: uuid.UUID, body: KeyIn, ctx: OperatorCtx) -> KeyIssued:
    """Issue an admin or reader key for a tenant (the key is shown once)."""
    issued = keys.issue_for_tenant(ctx.session, tenant_id, body.spec())
    ctx.record([str(tenant_id), str(issued.row.id)], role=body.role, user=body.user)
    data = KeyOut.model_validate(issued.row).model_dump()
    return KeyIssued(**data, key=issued.key)
