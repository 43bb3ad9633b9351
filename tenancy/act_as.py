"""End-user assertions: a delegate key's request names the user it serves with a signed JWT.

The tenant admin registers a JWKS (its identity provider's public keys). A request of a
delegate key carries `Enclave-Act-As: <JWT>` with `sub` (the user), `groups`, `exp` and
`aud` (the tenant's id), signed RS256, ES256 or EdDSA by a key of that JWKS. Anything else
(no signature, `alg: none`, another algorithm, an unknown key, expired, another tenant's
audience, a missing claim) is refused. Verification is PyJWT's, never our own.
"""

import uuid
from typing import Any

import jwt

from tenancy import access
from tenancy.access import Identity
from tenancy.errors import InvalidRequest, Unauthenticated
from tenancy.scope import Scope

ALGORITHMS = ("RS256", "ES256", "EdDSA")
LEEWAY_S = 30  # clock skew between the identity provider and us
MAX_ASSERTION = 16 * 1024
MAX_KEYS = 20


def check_jwks(raw: dict[str, Any]) -> dict[str, Any]:
    """A JWKS fit to register: public keys only, of the allowed algorithms, named by `kid`
    when there are several."""
    keys = raw.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidRequest(f"a JWKS is {{'keys': [...]}} with 1 to {MAX_KEYS} public keys")
    for index, key in enumerate(keys):
        _check_key(index, key, several=len(keys) > 1)
    kids = [key.get("kid") for key in keys]
    if len(set(kids)) != len(kids):
        raise InvalidRequest("every key of the JWKS needs its own `kid`")
    return {"keys": keys}


def _check_key(index: int, key: Any, *, several: bool) -> None:
    if not isinstance(key, dict):
        raise InvalidRequest(f"key {index} is not a JWK object")
    if any(private in key for private in ("d", "p", "q", "k")):
        raise InvalidRequest(f"key {index} holds private or secret material: register public keys")
    if several and not key.get("kid"):
        raise InvalidRequest(f"key {index} needs a `kid`: the JWKS has several keys")
    try:
        parsed = jwt.PyJWK(key)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise InvalidRequest(f"key {index} is not a usable JWK: {exc}") from exc
    if parsed.algorithm_name not in ALGORITHMS:
        raise InvalidRequest(f"key {index}: use one of {', '.join(ALGORITHMS)}")


def verify(assertion: str, jwks: dict[str, Any] | None, *, tenant_id: uuid.UUID) -> Identity:
    """The end user a valid assertion names, or Unauthenticated (and why)."""
    if jwks is None:
        raise Unauthenticated("the tenant has registered no JWKS for act-as assertions")
    if not assertion or len(assertion) > MAX_ASSERTION:
        raise Unauthenticated("missing or oversized act-as assertion")
    key = _signing_key(assertion, jwks)
    try:
        claims = jwt.decode(
            assertion,
            key.key,
            algorithms=[key.algorithm_name],
            audience=str(tenant_id),
            leeway=LEEWAY_S,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"act-as assertion refused: {exc}") from exc
    return _identity(claims)


def _signing_key(assertion: str, jwks: dict[str, Any]) -> jwt.PyJWK:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"act-as assertion is not a JWT: {exc}") from exc
    if header.get("alg") not in ALGORITHMS:
        raise Unauthenticated(f"act-as assertion algorithm {header.get('alg')!r} is refused")
    keys = [jwt.PyJWK(k) for k in jwks["keys"]]
    kid = header.get("kid")
    found = [k for k in keys if kid is None or k.key_id == kid]
    if kid is None and len(keys) > 1:
        found = []
    if len(found) != 1 or found[0].algorithm_name != header["alg"]:
        raise Unauthenticated("act-as assertion is not signed by a key of the tenant's JWKS")
    return found[0]


def _identity(claims: dict[str, Any]) -> Identity:
    user, groups = claims.get("sub"), claims.get("groups", [])
    if not isinstance(user, str) or not isinstance(groups, list):
        raise Unauthenticated("act-as assertion: `sub` must be a string, `groups` a list")
    try:
        return Identity(access.names([user], "user")[0], access.names(groups, "groups"))
    except (InvalidRequest, TypeError) as exc:
        raise Unauthenticated(f"act-as assertion: {exc}") from exc


def register(scope: Scope, jwks: dict[str, Any] | None) -> dict[str, Any]:
    """Store the tenant's JWKS (checked; None forgets it); returns what was stored."""
    checked = check_jwks(jwks) if jwks is not None else None
    scope.tenant().act_as_jwks = checked
    scope.flush()
    return checked or {"keys": []}


def registered(scope: Scope) -> dict[str, Any] | None:
    """The tenant's JWKS, if it registered one."""
    return scope.tenant().act_as_jwks
