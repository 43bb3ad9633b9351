"""kill -9 in the middle of a job, restart: the job finishes with exactly the right chunks."""

import random
import signal
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from retrieval.edge import EdgeIndex
from tenancy.ids import TenantId
from tests.e2e.test_serve import KEY_LINE, Server, _json, _wait_for_job

pytestmark = pytest.mark.slow

WORDS = [
    "pump",
    "valve",
    "turbine",
    "sensor",
    "relay",
    "conveyor",
    "gripper",
    "actuator",
    "battery",
    "charger",
    "motor",
    "gear",
]


def _document(i: int) -> tuple[str, bytes]:
    rng = random.Random(i)
    paragraphs = [
        f"Section {j} of manual {i}.\n\n" + " ".join(rng.choice(WORDS) for _ in range(120)) + "."
        for j in range(5)
    ]
    return f"manual-{i:03d}.txt", "\n\n".join(paragraphs).encode()


def _kill_mid_job(server: Server, http: httpx.Client, job_id: str) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        progress = _json(http.get(f"/v1/jobs/{job_id}"), 200)["progress"]
        if 0 < progress["done"] < progress["total"]:
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=30)
            done: int = progress["done"]
            return done
        time.sleep(0.05)
    raise AssertionError("never caught the job in the middle")


def _start_and_kill(first: Server) -> tuple[dict[str, Any], str, str, int]:
    """Create a tenant, upload 60 documents, kill -9 the server in the middle of the job."""
    match = KEY_LINE.search(first.output())
    assert match
    op = {"Authorization": f"Bearer {match.group(1)}"}
    with httpx.Client(base_url=first.url, timeout=60) as http:
        tenant = _json(http.post("/v1/tenants", json={"name": "Acme"}, headers=op), 201)
        body = {"role": "admin", "name": "admin"}
        issued = _json(http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=op), 201)
        http.headers["Authorization"] = f"Bearer {issued['key']}"
        files = [("files", _document(i)) for i in range(60)]
        job_id = _json(http.post("/v1/documents", files=files), 202)["job_id"]
        return tenant, issued["key"], job_id, _kill_mid_job(first, http, job_id)


def test_a_killed_server_resumes_the_job_exactly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Polls every 50 ms to catch the job mid-way: lift the per-key rate limit for that.
    env = {"ENCLAVE_KEY_RATE_PER_SECOND": "1000", "ENCLAVE_KEY_RATE_BURST": "1000"}
    first = Server(data_dir, env)
    try:
        tenant, key, job_id, killed_at = _start_and_kill(first)
    finally:
        if first.process.poll() is None:
            first.process.kill()
    second = Server(data_dir, env)
    try:
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=second.url, timeout=60, headers=auth) as http:
            job = _wait_for_job(http, job_id, {})
            docs = [_json(http.get(f"/v1/documents/{d['id']}"), 200) for d in job["documents"]]
    finally:
        second.stop()
    assert killed_at < 60
    assert job["progress"] == {"total": 60, "done": 60, "failed": 0}
    _assert_exact_chunks(data_dir, TenantId(uuid.UUID(tenant["id"])), docs)


def _assert_exact_chunks(data_dir: Path, tenant: TenantId, docs: list[dict[str, object]]) -> None:
    with sqlite3.connect(data_dir / "enclave.db") as db:
        rows = dict(
            db.execute("SELECT lower(document_id), count(*) FROM chunks GROUP BY document_id")
        )
        distinct = db.execute("SELECT count(DISTINCT id) = count(*) FROM chunks").fetchone()[0]
    index = EdgeIndex(data_dir / "edge", dimension=384, background_optimize=False)
    try:
        for doc in docs:
            doc_id = uuid.UUID(str(doc["id"]))
            assert doc["chunk_count"] == rows[doc_id.hex] == index.count(tenant, doc_id) > 0
        assert index.count(tenant) == sum(int(str(d["chunk_count"])) for d in docs)
    finally:
        index.close()
    assert distinct == 1
