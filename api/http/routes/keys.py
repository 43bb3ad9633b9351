"""Admin routes: the tenant's own keys."""

import uuid

from fastapi import APIRouter

from api.http.deps import AdminCtx
from api.schemas import KeyIn, KeyIssued, KeyOut
from tenancy import keys

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, name="key.issue")
def issue_key(body: KeyIn, ctx: AdminCtx) -> KeyIssued:
    """Issue a key in the caller's tenant (shown once)."""
    issued = keys.issue(ctx.scope, body.spec())
    ctx.record([str(issued.row.id)], role=body.role, user=body.user, delegate=body.delegate)
    data = KeyOut.model_validate(issued.row).model_dump()
    return KeyIssued(**data, key=issued.key)


@router.get("", name="key.list")
def list_keys(ctx: AdminCtx) -> list[KeyOut]:
    """The tenant's keys (never their secrets)."""
    rows = keys.list_keys(ctx.scope)
    ctx.record()
    return [KeyOut.model_validate(r) for r in rows]


@router.delete("/{key_id}", name="key.revoke")
def revoke_key(key_id: uuid.UUID, ctx: AdminCtx) -> KeyOut:
    """Revoke a key; it stops working on the next request."""
    row = keys.revoke(ctx.scope, key_id)
    ctx.record([str(key_id)])
    return KeyOut.model_validate(row)
