"""Two API processes sharing Redis enforce one rate limit between them."""

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import Server, _json

pytestmark = pytest.mark.slow

OPERATOR_KEY = "ek_shared-limits-operator-key-0000000000000000"


def test_a_key_gets_one_budget_across_two_processes(tmp_path: Path) -> None:
    env = {
        "ENCLAVE_OPERATOR_KEY": OPERATOR_KEY,
        "ENCLAVE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "ENCLAVE_KEY_RATE_PER_SECOND": "0.01",
        "ENCLAVE_KEY_RATE_BURST": "6",
        "ENCLAVE_PARSE_ISOLATION": "thread",
    }
    first = Server(tmp_path / "data", env)
    second = Server(tmp_path / "data", {**env, "ENCLAVE_WORKERS": "external"})
    try:
        op = {"Authorization": f"Bearer {OPERATOR_KEY}"}
        with httpx.Client(timeout=30) as http:
            tenant = _json(
                http.post(f"{first.url}/v1/tenants", json={"name": "Acme"}, headers=op), 201
            )
            body = {"role": "reader", "name": "agent"}
            key = _json(
                http.post(f"{first.url}/v1/tenants/{tenant['id']}/keys", json=body, headers=op), 201
            )
            reader = {"Authorization": f"Bearer {key['key']}"}
            statuses = [
                http.get(f"{server.url}/v1/documents", headers=reader).status_code
                for server in [first, second] * 6
            ]
    finally:
        second.stop()
        first.stop()
    assert statuses.count(200) == 6, statuses
    assert statuses.count(429) == 6, statuses
