"""The service's signing key: Ed25519, for search receipts and audit checkpoints.

The current private key lives in `<dir>/current.pem` (mode 0600), made on first start, or in
a file the operator gives. Rotation moves the current key's public half to `<dir>/retired/`
and makes a new one; every public key, current and retired, is published as a JWKS
(`GET /.well-known/jwks.json`), so a receipt signed years ago still verifies. Keys are named
by their RFC 7638 thumbprint. Signing is PyJWT's JWS (EdDSA), over canonical JSON.
"""

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

CURRENT = "current.pem"
RETIRED = "retired"


def canonical(payload: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public JWK of `key`, named by its thumbprint."""
    jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    members = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
    digest = hashlib.sha256(canonical(members)).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": "EdDSA", "use": "sig"}


@dataclass(frozen=True)
class KeyRing:
    """The current signing key and every public key that signatures may name."""

    private: Ed25519PrivateKey
    retired: tuple[dict[str, str], ...] = ()

    @functools.cached_property
    def kid(self) -> str:
        """The current key's id (every receipt names it: worked out once)."""
        return public_jwk(self.private.public_key())["kid"]

    def sign(self, payload: dict[str, Any]) -> str:
        """A compact JWS (EdDSA) over the canonical JSON of `payload`."""
        return jwt.api_jws.encode(
            canonical(payload), self.private, algorithm="EdDSA", headers={"kid": self.kid}
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every public key: the current one first, then the retired ones."""
        return {"keys": [public_jwk(self.private.public_key()), *self.retired]}


def load(folder: Path, configured: Path | None = None) -> KeyRing:
    """The key ring of `folder`: the configured private key, or the one made here."""
    folder.mkdir(parents=True, exist_ok=True)
    path = configured or folder / CURRENT
    if configured is None and not path.exists():
        _write_private(path, Ed25519PrivateKey.generate())
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return KeyRing(private, _retired(folder, current=public_jwk(private.public_key())["kid"]))


def published(folder: Path, configured: Path | None = None) -> dict[str, list[dict[str, str]]]:
    """The public keys of `folder` (offline tools), making none."""
    path = configured or folder / CURRENT
    return load(folder, configured).jwks() if path.exists() else {"keys": []}


def rotate(folder: Path) -> KeyRing:
    """Retire the current key of `folder` (its public half stays published), make a new one."""
    ring = load(folder)
    retired = folder / RETIRED
    retired.mkdir(exist_ok=True)
    public = ring.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (retired / f"{ring.kid}.pem").write_bytes(public)
    _write_private(folder / CURRENT, Ed25519PrivateKey.generate())
    return load(folder)


def _retired(folder: Path, *, current: str) -> tuple[dict[str, str], ...]:
    keys = []
    for path in sorted((folder / RETIRED).glob("*.pem")):
        public = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(public, Ed25519PublicKey):
            jwk = public_jwk(public)
            if jwk["kid"] != current:
                keys.append(jwk)
    return tuple(keys)


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """Write a private key readable by its owner alone, atomically."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
