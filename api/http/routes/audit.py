"""Audit routes: the tenant's hash-chained event log."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.http.deps import AdminCtx, ServicesDep
from api.schemas import MAX_INT, AuditEventOut, AuditList, AuditVerification
from tenancy import anchors, audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", name="audit.read")
def list_events(
    ctx: AdminCtx,
    action: Annotated[str | None, Query(max_length=64)] = None,
    key_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    """The tenant's audit events in order; page with `after_seq`."""
    query = audit.EventQuery(action, key_id, since, until, after_seq, limit)
    events = audit.list_events(ctx.scope, query)
    ctx.record()
    more = events[-1].seq if len(events) == limit else None
    return AuditList(events=[AuditEventOut.model_validate(e) for e in events], next_after_seq=more)


@router.get("/verify", name="audit.verify")
def verify_chain(ctx: AdminCtx, services: ServicesDep) -> AuditVerification:
    """Recompute the tenant's hash chain, check it against the signed checkpoints kept outside
    the database, and report the first sequence number no longer proven."""
    tenant = ctx.scope.tenant_id
    checkpoints = services.anchors.read(anchors.chain_name(tenant))
    result = audit.verify_anchored(ctx.session, tenant, checkpoints, services.signing.jwks())
    ctx.record(ok=result.ok)
    return AuditVerification.model_validate(result, from_attributes=True)
