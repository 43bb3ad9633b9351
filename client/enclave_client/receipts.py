"""Verify a search receipt offline: the signature, the payload's shape, and the cited spans.

    from enclave_client.receipts import verify
    payload = verify(search.receipt, jwks, texts={document_id: text})

`jwks` is the service's `/.well-known/jwks.json` (saved once; it also lists retired keys);
`texts` maps document ids to their canonical text (`GET /v1/documents/{id}/text`), and every
hit of those documents must slice to exactly the bytes its `chunk_sha256` names. Needs the
extra `receipts` (PyJWT with cryptography): `pip install 'enclave-client[receipts]'`.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

KIND = "enclave.search-receipt"
FIELDS = {
    "search_id": str,
    "tenant_id": str,
    "query_sha256": str,
    "mode": str,
    "top_k": int,
    "model": str,
    "hits": list,
    "audit": dict,
}
HIT_FIELDS = {
    "rank": int,
    "score": float,
    "chunk_id": str,
    "document_id": str,
    "version": int,
    "char_start": int,
    "char_end": int,
    "chunk_sha256": str,
    "document_sha256": str,
}


class ReceiptError(Exception):
    """The receipt does not verify; the message says why, in one line."""


def verify(
    receipt: str, jwks: Mapping[str, Any], *, texts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The receipt's payload, once its signature, shape and (given texts) spans check out."""
    payload = _signed_payload(receipt, jwks)
    _check_shape(payload)
    for hit in payload["hits"]:
        _check_span(hit, (texts or {}).get(hit["document_id"]))
    return payload


def _signed_payload(receipt: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    try:
        import jwt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReceiptError("install enclave-client[receipts] (PyJWT) to verify") from exc
    try:
        kid = jwt.get_unverified_header(receipt).get("kid")
        matching = [jwt.PyJWK(dict(k)) for k in jwks.get("keys", []) if k.get("kid") == kid]
        if len(matching) != 1:
            raise ReceiptError(f"signed by an unknown key ({kid!r}): not in the JWKS")
        body = jwt.api_jws.decode(receipt, matching[0].key, algorithms=["EdDSA"])
    except jwt.PyJWTError as exc:
        raise ReceiptError(f"bad signature: {exc}") from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ReceiptError("the signed payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise ReceiptError("the signed payload is not an object")
    return payload


def _check_shape(payload: dict[str, Any]) -> None:
    if payload.get("typ") != KIND or payload.get("v") != 1:
        raise ReceiptError(f"not a version-1 {KIND}")
    for name, kind in FIELDS.items():
        if not isinstance(payload.get(name), kind):
            raise ReceiptError(f"field {name!r} is missing or not a {kind.__name__}")
    audit = payload["audit"]
    if not isinstance(audit.get("seq"), int) or not isinstance(audit.get("hash"), str):
        raise ReceiptError("the audit reference needs an int seq and a str hash")
    for index, hit in enumerate(payload["hits"]):
        for name, kind in HIT_FIELDS.items():
            value = hit.get(name) if isinstance(hit, dict) else None
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ReceiptError(
                    f"hit {index}: field {name!r} is missing or not a {kind.__name__}"
                )


def _check_span(hit: dict[str, Any], text: str | None) -> None:
    if text is None:
        return
    span = text[hit["char_start"] : hit["char_end"]]
    if hashlib.sha256(span.encode()).hexdigest() != hit["chunk_sha256"]:
        raise ReceiptError(
            f"hit {hit['rank']}: document {hit['document_id']} at "
            f"[{hit['char_start']}:{hit['char_end']}] does not match its chunk_sha256"
        )
