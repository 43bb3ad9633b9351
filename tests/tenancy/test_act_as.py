"""Act-as assertions: only a fresh JWT for this tenant, signed by a registered key, names a user."""

import time
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tenancy import act_as
from tenancy.errors import InvalidRequest, Unauthenticated

TENANT = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
OTHER = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


@dataclass(frozen=True)
class Signer:
    """A private key, the algorithm it signs with, and its public JWK."""

    private: Any
    alg: str
    jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A JWT of `claims` signed by this key."""
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.jwk["kid"], **header}
        )


@cache
def signer(alg: str, kid: str = "k1") -> Signer:
    """A fresh key pair for `alg` (cached per test run: RSA keys take a moment)."""
    if alg == "RS256":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        public = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return Signer(key, alg, {**public, "kid": kid, "alg": alg, "use": "sig"})


def claims(**extra: Any) -> dict[str, Any]:
    """Valid claims for TENANT, overridable."""
    return {
        "sub": "alice",
        "groups": ["hr", "ops"],
        "aud": str(TENANT),
        "exp": time.time() + 300,
        **extra,
    }


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_a_valid_assertion_names_its_user_and_groups(alg: str) -> None:
    key = signer(alg)
    jwks = act_as.check_jwks({"keys": [key.jwk]})
    identity = act_as.verify(key.sign(claims()), jwks, tenant_id=TENANT)
    assert (identity.user, identity.groups) == ("alice", ("hr", "ops"))


def _refused(token: str, jwks: dict[str, Any] | None = None) -> str:
    registered = jwks if jwks is not None else {"keys": [signer("EdDSA").jwk]}
    with pytest.raises(Unauthenticated) as caught:
        act_as.verify(token, registered, tenant_id=TENANT)
    return str(caught.value)


def test_expired_foreign_or_incomplete_assertions_are_refused() -> None:
    key = signer("EdDSA")
    assert "expired" in _refused(key.sign(claims(exp=time.time() - 120)))
    assert "Audience" in _refused(key.sign(claims(aud=str(OTHER))))
    assert _refused(key.sign({k: v for k, v in claims().items() if k != "sub"}))
    assert _refused(key.sign({k: v for k, v in claims().items() if k != "exp"}))
    assert _refused(key.sign(claims(groups="hr")))
    assert _refused(key.sign(claims(sub="")))


def test_a_small_clock_skew_is_tolerated() -> None:
    key = signer("EdDSA")
    jwks = {"keys": [key.jwk]}
    assert (
        act_as.verify(key.sign(claims(exp=time.time() - 10)), jwks, tenant_id=TENANT).user
        == "alice"
    )


def test_unsigned_and_wrongly_signed_assertions_are_refused() -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]
    assert "algorithm" in _refused(unsigned)
    stranger = signer("EdDSA", kid="k1-stranger")
    assert _refused(stranger.sign(claims(), kid="k1"))  # a key not in the JWKS, claiming its kid
    hs = jwt.encode(claims(), "s" * 32, algorithm="HS256", headers={"kid": "k1"})
    assert "algorithm" in _refused(hs)
    rs = signer("RS256")
    assert _refused(rs.sign(claims()), {"keys": [signer("EdDSA").jwk]})
    assert _refused("not a jwt")
    assert _refused("x" * 20_000)


def test_without_a_registered_jwks_every_assertion_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="no JWKS"):
        act_as.verify(signer("EdDSA").sign(claims()), None, tenant_id=TENANT)


def test_a_jwks_with_private_material_or_unusable_keys_is_refused() -> None:
    private = OKPAlgorithm.to_jwk(signer("EdDSA").private, as_dict=True)
    with pytest.raises(InvalidRequest, match="private"):
        act_as.check_jwks({"keys": [private]})
    with pytest.raises(InvalidRequest, match="kid"):
        act_as.check_jwks({"keys": [signer("EdDSA").jwk, signer("ES256").jwk]})
    with pytest.raises(InvalidRequest):
        act_as.check_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
    with pytest.raises(InvalidRequest):
        act_as.check_jwks({"keys": []})
    both = act_as.check_jwks({"keys": [signer("EdDSA").jwk, signer("ES256", kid="k2").jwk]})
    assert len(both["keys"]) == 2
