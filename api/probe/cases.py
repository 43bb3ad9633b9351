"""The attacks `enclave probe` makes, as data: one `Probe` per request."""

import json
from collections.abc import Callable, Iterator

import httpx

from api.probe.mcp_cases import mcp_tools
from api.probe.probe import (
    FORBIDDEN,
    NOT_FOUND,
    OK,
    REFUSED,
    UNAUTH,
    Probe,
    Side,
    random_id,
    zip_with,
)

ID_ROUTES = [
    ("GET", "/v1/documents/{document}"),
    ("GET", "/v1/documents/{document}/text"),
    ("GET", "/v1/documents/{document}/content"),
    ("GET", "/v1/chunks/{chunk}"),
    ("GET", "/v1/searches/{search}"),
    ("GET", "/v1/jobs/{job}"),
    ("GET", "/v1/jobs/{job}/events"),
    ("DELETE", "/v1/documents/{document}"),
    ("DELETE", "/v1/keys/{key}"),
]

# The tenant's lists, and whether a reader may read them (else 403): the attacker reads its
# own, and none may name the victim's objects (the probe scans every answer for them).
LIST_ROUTES = [
    ("/v1/documents", True),
    ("/v1/jobs", False),
    ("/v1/keys", False),
    ("/v1/sources", False),
    ("/v1/audit", False),
]


def like_missing(
    http: httpx.Client, method: str, path: str, key: str
) -> Callable[[httpx.Response], str | None]:
    """A check that the answer is byte-identical to the answer for an id that never existed."""

    def check(response: httpx.Response) -> str | None:
        parts = path.split("/")  # "", "v1", kind, id, [rest]
        parts[3] = random_id()
        missing = http.request(method, "/".join(parts), headers={"Authorization": f"Bearer {key}"})
        return None if missing.content == response.content else "differs from a missing id's answer"

    return check


def cross_tenant_ids(http: httpx.Client, attacker: Side, victim: Side) -> Iterator[Probe]:
    """The attacker's keys on every route with the victim's ids."""
    for role, key in (("admin", attacker.admin), ("reader", attacker.reader)):
        for method, template in ID_ROUTES:
            path = template.format(**victim.ids)
            writes = method == "DELETE" or template.startswith("/v1/jobs")
            expected = FORBIDDEN if role == "reader" and writes else NOT_FOUND
            check = like_missing(http, method, path, key) if expected == NOT_FOUND else None
            yield Probe(
                f"{role} {method} other tenant's {template.split('/')[2]}",
                method,
                path,
                key,
                expected,
                victim,
                check=check,
            )


def own_lists(attacker: Side, victim: Side) -> Iterator[Probe]:
    """The attacker's keys on every list of its own tenant: 200 (or 403 for a reader on an
    admin's list), with nothing of the victim's in it. Probed before any attack, so that the
    attacker's audit log does not yet hold the victim ids the attacks themselves name."""
    page = {"params": {"limit": 100}}
    for path, readers in LIST_ROUTES:
        yield Probe(f"admin lists its {path}", "GET", path, attacker.admin, OK, victim, page)
        expected = OK if readers else FORBIDDEN
        yield Probe(f"reader lists its {path}", "GET", path, attacker.reader, expected, victim)


def searches(attacker: Side, victim: Side) -> Iterator[Probe]:
    """Search for the victim's canary in every mode, and with filters naming the victim."""
    filters: list[tuple[str, dict[str, object]]] = [
        ("no filter", {}),
        ("victim document_ids", {"document_ids": [victim.ids["document"]]}),
        ("victim tag", {"tags": [victim.tag]}),
        ("wildcard tag", {"tags": ["*"]}),
        ("injection media type", {"media_types": ["' OR '1'='1"]}),
    ]
    for mode in ("dense", "sparse", "hybrid"):
        for label, flt in filters:
            body = {"query": victim.canary, "mode": mode, "top_k": 50, "filter": flt}
            yield Probe(
                f"search {mode}, {label}",
                "POST",
                "/v1/search",
                attacker.reader,
                OK,
                victim,
                {"json": body},
            )


def tenant_hints(attacker: Side, victim: Side) -> Iterator[Probe]:
    """Naming the victim tenant in the body, the query string or a header changes nothing."""
    tid = victim.tenant_id or random_id()
    body = {"query": victim.canary, "mode": "sparse"}
    yield Probe(
        "tenant_id in search body",
        "POST",
        "/v1/search",
        attacker.reader,
        REFUSED,
        victim,
        {"json": {**body, "tenant_id": tid}},
    )
    yield Probe(
        "tenant_id in query string",
        "POST",
        f"/v1/search?tenant_id={tid}",
        attacker.reader,
        OK,
        victim,
        {"json": body},
    )
    yield Probe(
        "X-Tenant-Id header",
        "POST",
        "/v1/search",
        attacker.reader,
        OK,
        victim,
        {"json": body, "headers": {"X-Tenant-Id": tid}},
    )
    yield Probe(
        "tenant_id on document list",
        "GET",
        f"/v1/documents?tenant_id={tid}",
        attacker.reader,
        OK,
        victim,
    )


def escalation(attacker: Side, victim: Side, operator: str | None) -> Iterator[Probe]:
    """Readers on admin routes, admins on operator routes, the operator on tenant content."""
    upload = {"files": [("files", ("x.txt", b"escalation", "text/plain"))]}
    for method, path, options in (
        ("POST", "/v1/documents", upload),
        ("GET", "/v1/audit", {}),
        ("POST", "/v1/keys", {"json": {"role": "admin", "name": "x"}}),
        ("GET", "/v1/keys", {}),
    ):
        yield Probe(
            f"reader {method} {path}", method, path, attacker.reader, FORBIDDEN, victim, options
        )
    for method, path, options in (
        ("GET", "/v1/tenants", {}),
        ("POST", "/v1/tenants", {"json": {"name": "x"}}),
    ):
        yield Probe(
            f"admin {method} {path}", method, path, attacker.admin, FORBIDDEN, victim, options
        )
    if operator:
        yield from _operator_on_content(operator, victim)


def _operator_on_content(operator: str, victim: Side) -> Iterator[Probe]:
    for method, template in ID_ROUTES[:5]:
        yield Probe(
            f"operator {method} {template}",
            method,
            template.format(**victim.ids),
            operator,
            FORBIDDEN,
            victim,
        )
    body = {"json": {"query": victim.canary}}
    yield Probe("operator search", "POST", "/v1/search", operator, FORBIDDEN, victim, body)


def bad_keys(victim: Side, revoked: str) -> Iterator[Probe]:
    """Revoked, malformed, missing and oversized keys."""
    for label, key in (
        ("revoked key", revoked),
        ("garbage key", "ek_garbage"),
        ("huge key", "k" * 5000),
    ):
        yield Probe(label, "GET", "/v1/documents", key, UNAUTH, victim)
    yield Probe("no Authorization header", "GET", "/v1/documents", None, UNAUTH, victim)
    bare = {"headers": {"Authorization": "Bearer"}}
    yield Probe("Bearer without a key", "GET", "/v1/documents", None, UNAUTH, victim, bare)
    yield Probe(
        "Basic scheme",
        "GET",
        "/v1/documents",
        None,
        UNAUTH,
        victim,
        {"headers": {"Authorization": "Basic YTpi"}},
    )


def hostile_inputs(attacker: Side, victim: Side) -> Iterator[Probe]:
    """Path traversal, oversized and malformed bodies: a clear 4xx, never a 500 or a leak."""
    admin = attacker.admin
    traversal = {"files": [("files", ("../../etc/passwd.txt", b"root:x:0:0", "text/plain"))]}
    slip = {
        "files": [
            ("files", ("slip.zip", zip_with("../../evil.txt", b"evil text"), "application/zip"))
        ]
    }
    yield Probe(
        "path traversal in file name", "POST", "/v1/documents", admin, REFUSED, victim, traversal
    )
    yield Probe("zip-slip member", "POST", "/v1/documents", admin, REFUSED, victim, slip)
    yield Probe(
        "malformed JSON",
        "POST",
        "/v1/search",
        attacker.reader,
        REFUSED,
        victim,
        {"content": b"{no", "headers": {"content-type": "application/json"}},
    )
    yield Probe(
        "oversized query",
        "POST",
        "/v1/search",
        attacker.reader,
        REFUSED,
        victim,
        {"json": {"query": "q" * 100_000}},
    )
    yield Probe(
        "top_k out of range",
        "POST",
        "/v1/search",
        attacker.reader,
        REFUSED,
        victim,
        {"json": {"query": "x", "top_k": 10_000}},
    )
    yield Probe(
        "unknown filter field",
        "POST",
        "/v1/search",
        attacker.reader,
        REFUSED,
        victim,
        {"json": {"query": "x", "filter": {"tenant": "x"}}},
    )
    yield Probe(
        "bad metadata JSON",
        "POST",
        "/v1/documents",
        admin,
        REFUSED,
        victim,
        {
            "files": [("files", ("a.txt", b"text", "text/plain"))],
            "data": {"metadata": json.dumps([1])},
        },
    )
    yield Probe(
        "oversized body",
        "POST",
        "/v1/search",
        attacker.reader,
        REFUSED,
        victim,
        {
            "content": b"{" + b" " * (3 * 1024 * 1024),
            "headers": {"content-type": "application/json"},
        },
    )


def all_probes(
    http: httpx.Client, a: Side, b: Side, *, operator: str | None, revoked: str
) -> Iterator[Probe]:
    """Every probe, in both directions."""
    for attacker, victim in ((a, b), (b, a)):
        yield from own_lists(attacker, victim)
    for attacker, victim in ((a, b), (b, a)):
        yield from cross_tenant_ids(http, attacker, victim)
        yield from searches(attacker, victim)
        yield from tenant_hints(attacker, victim)
        yield from escalation(attacker, victim, operator)
        yield from hostile_inputs(attacker, victim)
        yield from mcp_tools(http, attacker, victim, operator)
    yield from bad_keys(b, revoked)
