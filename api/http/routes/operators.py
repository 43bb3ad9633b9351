"""Operator routes: the operators' own keys (list, issue, revoke)."""

import uuid

from fastapi import APIRouter

from api.http.deps import OperatorCtx
from api.schemas import KeyIssued, KeyOut, OperatorKeyIn
from tenancy import operators

router = APIRouter(prefix="/v1/operator/keys", tags=["operator"])


@router.get("", name="operator.key.list")
def list_operator_keys(ctx: OperatorCtx) -> list[KeyOut]:
    """Every operator key, newest first, revoked ones included (never their secrets)."""
    rows = operators.list_all(ctx.session)
    ctx.record()
    return [KeyOut.model_validate(r) for r in rows]


@router.post("", status_code=201, name="operator.key.issue")
def issue_operator_key(body: OperatorKeyIn, ctx: OperatorCtx) -> KeyIssued:
    """Issue another operator key (shown once)."""
    issued = operators.issue(ctx.session, name=body.name)
    ctx.record([str(issued.row.id)])
    return KeyIssued(**KeyOut.model_validate(issued.row).model_dump(), key=issued.key)


@router.delete("/{key_id}", name="operator.key.revoke")
def revoke_operator_key(key_id: uuid.UUID, ctx: OperatorCtx) -> KeyOut:
    """Revoke an operator key; it fails on its next request. The last usable one cannot be
    revoked (409): issue another first."""
    row = operators.revoke(ctx.session, key_id)
    ctx.record([str(key_id)])
    return KeyOut.model_validate(row)
