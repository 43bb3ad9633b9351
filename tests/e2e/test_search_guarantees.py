"""The search path's guarantees under 16-client load against a real `enclave serve`:
a search whose response was sent survives kill -9 (its record and audit event were durable
before the response left), and a key revoked mid-load fails on its next request."""

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_faults_e2e import BASE_ENV, OP, _tenant, _upload
from tests.e2e.test_serve import Server, _json

pytestmark = pytest.mark.slow

CLIENTS = 16
# The load and the replays must not meet the rate limits: a 429 is not what is tested here.
ENV = {
    **BASE_ENV,
    "ENCLAVE_KEY_RATE_PER_SECOND": "100000",
    "ENCLAVE_KEY_RATE_BURST": "100000",
    "ENCLAVE_TENANT_RATE_PER_SECOND": "100000",
    "ENCLAVE_TENANT_RATE_BURST": "100000",
}


Log = list[tuple[float, float, int, str]]


def _hammer(url: str, key: str, until: Callable[[], bool], log: Log) -> None:
    """Search until `until()`; log (sent, answered, status, search id) of every answer."""
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        n = 0
        while not until():
            n += 1
            sent = time.monotonic()
            try:
                answer = http.post("/v1/search", json={"query": f"pump valve {n}"}, headers=auth)
            except httpx.HTTPError:
                return  # the server is gone: nothing was answered to this request
            search_id = answer.json().get("search_id", "") if answer.status_code == 200 else ""
            log.append((sent, time.monotonic(), answer.status_code, search_id))


def _load(url: str, key: str, until: Callable[[], bool]) -> Log:
    log: Log = []
    threads = [
        threading.Thread(target=_hammer, args=(url, key, until, log)) for _ in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    return_log = log
    for thread in threads:
        thread.join(60)
    return return_log


def _reader(http: httpx.Client, tenant: str) -> dict[str, str]:
    body = {"role": "reader", "name": "agent"}
    issued: dict[str, str] = _json(
        http.post(f"/v1/tenants/{tenant}/keys", json=body, headers=OP), 201
    )
    return issued


@dataclass
class Loaded:
    """A live server with a tenant of five documents, its admin and a reader key each
    scenario takes for its own."""

    server: Server
    data: Path
    tenant: str
    admin: dict[str, str]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """One server for both scenarios (the revocation runs first, the kill last)."""
    data = tmp_path_factory.mktemp("guarantees") / "data"
    server = Server(data, ENV)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        tenant, admin = _tenant(http, "Durable Co")
        _upload(http, admin, 0, 5)
    yield Loaded(server, data, tenant, admin)
    if server.process.poll() is None:
        server.stop()


def test_a_key_revoked_mid_load_fails_on_its_next_request(loaded: Loaded) -> None:
    url = loaded.server.url
    with httpx.Client(base_url=url, timeout=60) as http:
        reader = _reader(http, loaded.tenant)
    started = time.monotonic()
    revoked_at: list[float] = []

    def revoke() -> None:
        time.sleep(1.5)
        with httpx.Client(base_url=url, timeout=30) as http:
            answer = http.delete(f"/v1/keys/{reader['id']}", headers=loaded.admin)
            assert answer.status_code == 200
        revoked_at.append(time.monotonic())  # the revocation's response has arrived

    threading.Thread(target=revoke).start()
    log = _load(url, reader["key"], lambda: time.monotonic() - started > 4)
    assert revoked_at
    before = [status for _, answered, status, _ in log if answered < revoked_at[0]]
    after = [status for sent, _, status, _ in log if sent > revoked_at[0]]
    assert before.count(200) > 10
    # Requests in flight when it was revoked may still finish; every request sent after the
    # revocation was answered is refused.
    assert after
    assert set(after) == {401}


def test_every_answered_search_replays_after_kill_9_under_load(loaded: Loaded) -> None:
    server = loaded.server
    with httpx.Client(base_url=server.url, timeout=60) as http:
        reader = _reader(http, loaded.tenant)
    started = time.monotonic()

    def killer() -> None:
        time.sleep(2.5)
        server.process.send_signal(signal.SIGKILL)

    threading.Thread(target=killer).start()
    log = _load(server.url, reader["key"], lambda: time.monotonic() - started > 30)
    server.process.wait(30)
    answered = [search_id for _, _, status, search_id in log if status == 200]
    assert len(answered) > 20, log[:5]  # the load really ran before the kill

    restarted = Server(loaded.data, ENV)
    try:
        with httpx.Client(base_url=restarted.url, timeout=60) as http:
            auth = {"Authorization": f"Bearer {reader['key']}"}
            lost = [
                search_id
                for search_id in answered
                if http.get(f"/v1/searches/{search_id}", headers=auth).status_code != 200
            ]
            audited = _audited_searches(http, loaded.admin)
    finally:
        restarted.stop()
    assert lost == []
    assert set(answered) <= audited


def _audited_searches(http: httpx.Client, admin: dict[str, str]) -> set[str]:
    """Every search id in the tenant's audit chain, page by page."""
    found: set[str] = set()
    after: int | None = 0
    while after is not None:
        page = _json(http.get(f"/v1/audit?action=search&after_seq={after}", headers=admin), 200)
        found |= {target for event in page["events"] for target in event["targets"]}
        after = page["next_after_seq"]
    return found
