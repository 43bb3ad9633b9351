"""The search path's guarantees under 16-client load against a real `enclave serve`:
a search whose response was sent survives kill -9 (its record and audit event were durable
before the response left), and a key revoked mid-load fails on its next request."""

import signal
import threading
import time
from collections.abc import Callable
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


def _hammer(
    url: str, key: str, until: Callable[[], bool], log: list[tuple[float, int, str]]
) -> None:
    """Search until `until()`; log (time, status, search id) of every answer received."""
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        n = 0
        while not until():
            n += 1
            try:
                answer = http.post("/v1/search", json={"query": f"pump valve {n}"}, headers=auth)
            except httpx.HTTPError:
                return  # the server is gone: nothing was answered to this request
            search_id = answer.json().get("search_id", "") if answer.status_code == 200 else ""
            log.append((time.monotonic(), answer.status_code, search_id))


def _load(url: str, key: str, until: Callable[[], bool]) -> list[tuple[float, int, str]]:
    log: list[tuple[float, int, str]] = []
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
    return _json(http.post(f"/v1/tenants/{tenant}/keys", json=body, headers=OP), 201)


def test_every_answered_search_replays_after_kill_9_under_load(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data, ENV)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        tenant, admin = _tenant(http, "Durable Co")
        _upload(http, admin, 0, 5)
        reader = _reader(http, tenant)
    started = time.monotonic()

    def killer() -> None:
        time.sleep(2.5)
        server.process.send_signal(signal.SIGKILL)

    threading.Thread(target=killer).start()
    log = _load(server.url, reader["key"], lambda: time.monotonic() - started > 30)
    server.process.wait(30)
    answered = [search_id for _, status, search_id in log if status == 200]
    assert len(answered) > 20, log[:5]  # the load really ran before the kill

    restarted = Server(data, ENV)
    try:
        with httpx.Client(base_url=restarted.url, timeout=60) as http:
            auth = {"Authorization": f"Bearer {reader['key']}"}
            lost = [
                search_id
                for search_id in answered
                if http.get(f"/v1/searches/{search_id}", headers=auth).status_code != 200
            ]
            events = _json(http.get("/v1/audit?action=search&limit=1000", headers=admin), 200)
    finally:
        restarted.stop()
    assert lost == []
    audited = {target for event in events["events"] for target in event["targets"]}
    assert set(answered) <= audited


def test_a_key_revoked_mid_load_fails_on_its_next_request(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", ENV)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            tenant, admin = _tenant(http, "Revoking Co")
            _upload(http, admin, 0, 3)
            reader = _reader(http, tenant)
        started = time.monotonic()
        revoked_at: list[float] = []

        def revoke() -> None:
            time.sleep(1.5)
            with httpx.Client(base_url=server.url, timeout=30) as http:
                answer = http.delete(f"/v1/keys/{reader['id']}", headers=admin)
                assert answer.status_code == 200
            revoked_at.append(time.monotonic())  # the revocation's response has arrived

        threading.Thread(target=revoke).start()
        log = _load(server.url, reader["key"], lambda: time.monotonic() - started > 4)
    finally:
        server.stop()
    assert revoked_at
    before = [status for at, status, _ in log if at < revoked_at[0]]
    after = [status for at, status, _ in log if at > revoked_at[0] + 0.001]
    assert before.count(200) > 10
    # Requests in flight when it was revoked may finish; a request answered after the
    # revocation's answer and sent after it is refused. Each client's next request is.
    assert after
    assert after[-CLIENTS:] == [401] * len(after[-CLIENTS:])
