"""`enclave probe`: plant canaries in two tenants, attack every route, report any leak.

A probe is a request made with one tenant's (or a wrong) credential. Its
verdict is LEAK when the answer carries anything of the other tenant (its
canary text or any of its ids) whatever the status; FAIL when the status is
not the expected one; otherwise pass.
"""

import io
import json
import secrets
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

# The statuses a probe expects.
NOT_FOUND = frozenset({404})
UNAUTH = frozenset({401})
FORBIDDEN = frozenset({403})
OK = frozenset({200})
REFUSED = frozenset({413, 415, 422})


@dataclass
class Side:
    """One tenant as the probe knows it: keys, planted ids and secrets."""

    name: str
    admin: str
    reader: str
    tenant_id: str | None = None
    canary: str = field(default_factory=lambda: f"CANARY{secrets.token_hex(8).upper()}")
    tag: str = field(default_factory=lambda: f"probe-{secrets.token_hex(4)}")
    ids: dict[str, str] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        """Everything that must never appear in the other tenant's answers."""
        return [self.canary, self.tag, *self.ids.values()] + (
            [self.tenant_id] if self.tenant_id else []
        )


@dataclass(frozen=True)
class Outcome:
    """One probe's row of the report."""

    probe: str
    expected: str
    got: str
    verdict: str


@dataclass(frozen=True)
class Probe:
    """A request, who sends it, what must come back, and whose secrets must not."""

    name: str
    method: str
    path: str
    key: str | None
    expected: frozenset[int]
    victim: Side
    options: dict[str, Any] = field(default_factory=dict)
    check: Callable[[httpx.Response], str | None] | None = None


class PatientTransport(httpx.HTTPTransport):
    """Honours 429 + Retry-After like a careful tester: the probe must not fail on a rate limit
    that is doing its job, nor hammer a production deployment."""

    def __init__(self, *, max_waits: int = 8, max_wait_s: float = 10.0) -> None:
        super().__init__()
        self.max_waits, self.max_wait_s = max_waits, max_wait_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send; on 429 wait as told and send again (a few times at most)."""
        request.read()
        for _ in range(self.max_waits):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.read()
            response.close()
            time.sleep(min(self.max_wait_s, float(response.headers.get("retry-after", "1"))))
        return super().handle_request(request)


def run_probe(http: httpx.Client, probe: Probe) -> Outcome:
    """Send one probe and judge the answer."""
    options = dict(probe.options)
    headers = dict(options.pop("headers", {}))
    if probe.key is not None:
        headers["Authorization"] = f"Bearer {probe.key}"
    expected = "/".join(str(s) for s in sorted(probe.expected))
    try:
        response = http.request(probe.method, probe.path, headers=headers, **options)
        problem = probe.check(response) if probe.check else None
    except httpx.HTTPError as exc:
        return Outcome(probe.name, expected, f"no answer ({type(exc).__name__})", "FAIL")
    got = str(response.status_code)
    leaked = [s for s in probe.victim.secrets() if s and s in response.text]
    if leaked:
        return Outcome(probe.name, expected, f"{got} with the other tenant's data", "LEAK")
    if response.status_code not in probe.expected or problem:
        return Outcome(probe.name, expected, problem or got, "FAIL")
    return Outcome(probe.name, expected, got, "pass")


def plant(http: httpx.Client, side: Side) -> None:
    """Upload a canary document to the side's tenant, wait for it, search once."""
    auth = {"Authorization": f"Bearer {side.admin}"}
    text = f"Probe canary document.\n\nThe secret word is {side.canary} for {side.name}."
    files = [("files", (f"canary-{side.tag}.txt", text.encode(), "text/plain"))]
    meta = json.dumps({"tags": [side.tag]})
    upload = expect_ok(
        http.post("/v1/documents", files=files, data={"metadata": meta}, headers=auth)
    )
    side.ids["job"], side.ids["document"] = upload["job_id"], upload["documents"][0]["id"]
    wait_for_job(http, side.ids["job"], auth)
    found = expect_ok(
        http.post("/v1/search", json={"query": side.canary, "mode": "sparse"}, headers=auth)
    )
    side.ids["search"] = found["search_id"]
    side.ids["chunk"] = found["results"][0]["chunk_id"]
    key = expect_ok(http.post("/v1/keys", json={"role": "reader", "name": "probe"}, headers=auth))
    side.ids["key"] = key["id"]


def wait_for_job(
    http: httpx.Client, job_id: str, auth: dict[str, str], timeout_s: float = 300
) -> None:
    """Wait until the job is done or failed (set-up only)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if expect_ok(http.get(f"/v1/jobs/{job_id}", headers=auth))["status"] in ("done", "failed"):
            return
        time.sleep(0.3)
    raise RuntimeError(f"probe set-up: job {job_id} did not finish")


def expect_ok(response: httpx.Response) -> Any:
    """The JSON of a set-up call, which must succeed."""
    if response.status_code >= 400:
        raise RuntimeError(f"probe set-up failed: {response.status_code} {response.text[:200]}")
    return response.json()


def zip_with(name: str, data: bytes) -> bytes:
    """A zip holding one member named `name` (which may be hostile)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def random_id() -> str:
    """An id that exists nowhere."""
    return str(uuid.uuid4())


def run_all(http: httpx.Client, probes: Iterable[Probe]) -> list[Outcome]:
    """Run every probe in order."""
    return [run_probe(http, p) for p in probes]
