"""Within one tenant: documents restricted to a user and to a group, and keys of several
identities (bound readers, a plain reader, a delegate key acting for users with signed
assertions) trying every route and tool on what they may not read.

A restricted document is a `Side` of its own for the judge: its canary and ids are the
secrets that must not reach a caller who may not read it.
"""

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from api.probe.cases import like_missing
from api.probe.mcp_cases import MCP_HEADERS, rpc
from api.probe.probe import NOT_FOUND, OK, Probe, Side, expect_ok, wait_for_job

ROUTES = (
    ("GET", "/v1/documents/{document}"),
    ("GET", "/v1/documents/{document}/text"),
    ("GET", "/v1/documents/{document}/content"),
    ("GET", "/v1/chunks/{chunk}"),
)


@dataclass
class Restricted:
    """The planted restricted documents and the callers who try them."""

    tenant_id: str
    secret: dict[str, Side] = field(default_factory=dict)  # by who may read it
    keys: dict[str, str] = field(default_factory=dict)  # identity -> key
    signer: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)

    def assertion(self, user: str, groups: list[str]) -> str:
        """An act-as JWT for `user`, signed by the key the probe registered."""
        claims = {"sub": user, "groups": groups, "aud": self.tenant_id, "exp": time.time() + 600}
        return jwt.encode(claims, self.signer, algorithm="EdDSA", headers={"kid": "probe"})


def plant(http: httpx.Client, side: Side) -> Restricted:
    """In `side`'s tenant: a user-only and a group-only document, identity keys, a JWKS."""
    admin = {"Authorization": f"Bearer {side.admin}"}
    planted = Restricted(tenant_id=_tenant_id(side))
    for who, access in (("alice", {"users": ["alice"]}), ("hr", {"groups": ["hr"]})):
        planted.secret[who] = _restricted_document(http, admin, side, who, access)
    specs: dict[str, dict[str, Any]] = {
        "alice": {"role": "reader", "user": "alice"},
        "hr member": {"role": "reader", "user": "harriet", "groups": ["hr"]},
        "outsider": {"role": "reader", "user": "oscar", "groups": ["eng"]},
        "plain reader": {"role": "reader"},
        "delegate": {"role": "reader", "delegate": True},
    }
    for who, spec in specs.items():
        issued = expect_ok(
            http.post("/v1/keys", json={"name": f"probe {who}", **spec}, headers=admin)
        )
        planted.keys[who] = issued["key"]
    public = OKPAlgorithm.to_jwk(planted.signer.public_key(), as_dict=True)
    jwks = {"keys": [{**public, "kid": "probe", "alg": "EdDSA"}]}
    expect_ok(http.put("/v1/act-as/jwks", json=jwks, headers=admin))
    return planted


def _tenant_id(side: Side) -> str:
    if side.tenant_id:
        return side.tenant_id
    raise RuntimeError("within-tenant probes need the tenant's id: run with --operator-key")


def _restricted_document(
    http: httpx.Client, admin: dict[str, str], side: Side, who: str, access: dict[str, list[str]]
) -> Side:
    secret = Side(name=f"{side.name}, only {who}", admin=side.admin, reader=side.reader)
    text = f"Restricted probe document.\n\nThe secret word is {secret.canary} for {who}."
    files = [("files", (f"restricted-{secret.tag}.txt", text.encode(), "text/plain"))]
    meta = json.dumps({"access": access})
    upload = expect_ok(
        http.post("/v1/documents", files=files, data={"metadata": meta}, headers=admin)
    )
    secret.ids["document"] = upload["documents"][0]["id"]
    wait_for_job(http, upload["job_id"], admin)
    query = {"query": secret.canary, "mode": "sparse"}
    found = expect_ok(http.post("/v1/search", json=query, headers=admin))
    secret.ids["chunk"] = found["results"][0]["chunk_id"]
    return secret


def probes(http: httpx.Client, planted: Restricted) -> Iterator[Probe]:
    """Every caller who may not read a restricted document, on every route and tool."""
    blocked = {
        "alice": ["hr member", "outsider", "plain reader", "delegate"],
        "hr": ["alice", "outsider", "plain reader", "delegate"],
    }
    for owner, callers in blocked.items():
        victim = planted.secret[owner]
        for caller in callers:
            yield from _attempts(http, planted.keys[caller], caller, victim, {})
        for user, groups in (("oscar", ["eng"]), ("nobody", [])):
            acting = {"Enclave-Act-As": planted.assertion(user, groups)}
            yield from _attempts(
                http, planted.keys["delegate"], f"delegate as {user}", victim, acting
            )
    yield from _allowed(planted)


def _attempts(
    http: httpx.Client, key: str, caller: str, victim: Side, headers: dict[str, str]
) -> Iterator[Probe]:
    label = f"within: {caller} on {victim.name.split(', ')[-1]}"
    for method, template in ROUTES:
        path = template.format(**victim.ids)
        check = None if headers else like_missing(http, method, path, key)
        options = {"headers": headers}
        yield Probe(
            f"{label}: {template.split('/')[2]}",
            method,
            path,
            key,
            NOT_FOUND,
            victim,
            options,
            check,
        )
    search = {"json": {"query": victim.canary, "top_k": 50}, "headers": headers}
    yield Probe(f"{label}: search", "POST", "/v1/search", key, OK, victim, search)
    listing = {"params": {"limit": 200}, "headers": headers}
    yield Probe(f"{label}: list", "GET", "/v1/documents", key, OK, victim, listing)
    for tool, arguments in (
        ("search", {"query": victim.canary, "top_k": 50}),
        ("get_chunk", {"chunk_id": victim.ids["chunk"]}),
        ("list_documents", {"limit": 100}),
    ):
        call = rpc(tool, arguments)
        call["headers"] = {**MCP_HEADERS, **headers}
        yield Probe(f"{label}: mcp {tool}", "POST", "/mcp", key, OK, victim, call)


def _allowed(planted: Restricted) -> Iterator[Probe]:
    """Those who may read a restricted document do find it (else the probe proves nothing)."""
    nobody = Side(name="nobody", admin="", reader="")
    for owner, caller, headers in (
        ("alice", "alice", {}),
        ("hr", "hr member", {}),
        ("hr", "delegate", {"Enclave-Act-As": planted.assertion("zoe", ["hr"])}),
    ):
        victim = planted.secret[owner]
        path = f"/v1/documents/{victim.ids['document']}/text"
        check = _contains(victim.canary)
        yield Probe(
            f"within: {caller} reads its own {owner} document",
            "GET",
            path,
            planted.keys[caller],
            OK,
            nobody,
            {"headers": headers},
            check,
        )


def _contains(canary: str) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        return None if canary in response.text else "the allowed caller did not see its document"

    return check
