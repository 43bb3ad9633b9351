"""Act-as routes: the JWKS that signs the end-user assertions of the tenant's delegate keys."""

from fastapi import APIRouter

from api.http.deps import AdminCtx
from api.schemas import JwksIn, JwksOut
from tenancy import act_as

router = APIRouter(prefix="/v1/act-as", tags=["act-as"])


@router.put("/jwks", name="act_as.jwks.set")
def set_jwks(body: JwksIn, ctx: AdminCtx) -> JwksOut:
    """Register the public keys (a JWKS: RS256, ES256 or EdDSA) of the identity provider that
    signs `Enclave-Act-As` assertions for the tenant's delegate keys; replaces the last."""
    jwks = act_as.register(ctx.scope, body.model_dump())
    ctx.record(kids=[key.get("kid") for key in jwks["keys"]])
    return JwksOut(keys=jwks["keys"])


@router.get("/jwks", name="act_as.jwks.read")
def get_jwks(ctx: AdminCtx) -> JwksOut:
    """The registered JWKS (public keys), or an empty one."""
    jwks = act_as.registered(ctx.scope)
    ctx.record()
    return JwksOut(keys=jwks["keys"] if jwks else [])


@router.delete("/jwks", name="act_as.jwks.delete")
def delete_jwks(ctx: AdminCtx) -> JwksOut:
    """Forget the JWKS: every act-as assertion is refused from the next request on."""
    act_as.register(ctx.scope, None)
    ctx.record()
    return JwksOut(keys=[])
