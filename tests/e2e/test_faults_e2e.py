"""Faults against a real `enclave serve`: kill -9 mid-erasure, a really full disk, Redis killed.

Each test runs the real server process (real model, real index) and breaks what is under it:
the process itself, the filesystem it writes to, the Redis it shares limits through.
"""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from retrieval.edge import EdgeIndex
from tenancy.ids import TenantId
from tests.e2e.test_crash_resume import _document
from tests.e2e.test_serve import Server, _json, _wait_for_job
from tests.tenancy.test_redis_faults import RedisProcess

pytestmark = pytest.mark.slow

OPERATOR_KEY = "ek_faults-e2e-operator-key-000000000000000000"
OP = {"Authorization": f"Bearer {OPERATOR_KEY}"}
BASE_ENV = {
    "ENCLAVE_OPERATOR_KEY": OPERATOR_KEY,
    "ENCLAVE_KEY_RATE_PER_SECOND": "1000",
    "ENCLAVE_KEY_RATE_BURST": "1000",
    "ENCLAVE_PARSE_ISOLATION": "thread",
}


def _tenant(http: httpx.Client, name: str) -> tuple[str, dict[str, str]]:
    tenant = _json(http.post("/v1/tenants", json={"name": name}, headers=OP), 201)
    body = {"role": "admin", "name": "admin"}
    issued = _json(http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=OP), 201)
    return tenant["id"], {"Authorization": f"Bearer {issued['key']}"}


def _upload(http: httpx.Client, auth: dict[str, str], first: int, count: int) -> list[str]:
    files = [("files", _document(i)) for i in range(first, first + count)]
    job_id = _json(http.post("/v1/documents", files=files, headers=auth), 202)["job_id"]
    job = _wait_for_job(http, job_id, auth)
    assert job["progress"]["failed"] == 0, job
    return [d["id"] for d in job["documents"]]


def _search_ids(http: httpx.Client, auth: dict[str, str], query: str = "pump valve") -> set[str]:
    body = {"query": query, "top_k": 50}
    hits = _json(http.post("/v1/search", json=body, headers=auth), 200)["results"]
    return {hit["citation"]["document_id"] for hit in hits}


# -- kill -9 in the middle of a tenant's erasure ----------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A stopped server's data: Acme with 30 documents, Globex with 5."""
    data = tmp_path_factory.mktemp("seed") / "data"
    server = Server(data, BASE_ENV)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            acme, acme_auth = _tenant(http, "Acme")
            globex, globex_auth = _tenant(http, "Globex")
            seed = {
                "acme": acme,
                "acme_auth": acme_auth,
                "acme_docs": _upload(http, acme_auth, 0, 30),
                "globex": globex,
                "globex_auth": globex_auth,
                "globex_docs": _upload(http, globex_auth, 100, 5),
            }
    finally:
        server.stop()
    return data, seed


def _rows(data: Path, tenant: str) -> dict[str, int]:
    hex_id = uuid.UUID(tenant).hex
    with sqlite3.connect(data / "enclave.db") as db:
        return {
            table: db.execute(
                f"SELECT count(*) FROM {table} WHERE lower(tenant_id) = ?",
                (hex_id,),
            ).fetchone()[0]
            for table in ("documents", "chunks", "api_keys", "audit_events")
        }


def _points(data: Path, tenant: str) -> int:
    index = EdgeIndex(data / "edge", dimension=384, background_optimize=False)
    try:
        return index.count(TenantId(uuid.UUID(tenant)))
    finally:
        index.close()


def _tenant_row(data: Path, tenant: str) -> bool:
    with sqlite3.connect(data / "enclave.db") as db:
        query = "SELECT count(*) FROM tenants WHERE lower(id) = ?"
        return bool(db.execute(query, (uuid.UUID(tenant).hex,)).fetchone()[0])


def _settle(server: Server, data: Path, seed: dict[str, Any]) -> str:
    """'whole' when the intent never landed (the tenant answers with every document), 'gone'
    once the erasure is finished; in between the tenant answers 404 and is listed nowhere."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=server.url, timeout=30) as http:
        if http.get(f"/v1/tenants/{seed['acme']}", headers=OP).status_code == 200:
            listed = _json(http.get("/v1/documents?limit=200", headers=seed["acme_auth"]), 200)
            assert sorted(d["id"] for d in listed["documents"]) == sorted(seed["acme_docs"])
            assert {d["status"] for d in listed["documents"]} == {"ready"}
            return "whole"
        while time.monotonic() < deadline:
            answer = http.get(f"/v1/tenants/{seed['acme']}", headers=OP)
            assert answer.status_code == 404, answer.text
            listed = _json(http.get("/v1/tenants", headers=OP), 200)
            assert seed["acme"] not in {t["id"] for t in listed}
            assert http.get("/v1/documents", headers=seed["acme_auth"]).status_code == 401
            if not _tenant_row(data, seed["acme"]):
                return "gone"
            time.sleep(0.3)
    raise AssertionError("the interrupted erasure was never finished")


@pytest.mark.parametrize("delay_s", [0.02, 0.3])
def test_a_tenant_erasure_killed_at_any_moment_is_whole_or_gone_after_restart(
    seeded: tuple[Path, dict[str, Any]], tmp_path: Path, delay_s: float
) -> None:
    seed_dir, seed = seeded
    data = tmp_path / "data"
    shutil.copytree(seed_dir, data)
    env = {**BASE_ENV, "ENCLAVE_ERASURE_RESUME_AFTER_S": "1"}
    first = Server(data, env)
    with httpx.Client(base_url=first.url, timeout=60) as http:
        request = http.build_request("DELETE", f"/v1/tenants/{seed['acme']}", headers=OP)
        with contextlib.suppress(httpx.HTTPError):
            http.send(request, stream=True)  # do not wait for the answer
        time.sleep(delay_s)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
    second = Server(data, env)
    try:
        outcome = _settle(second, data, seed)
        with httpx.Client(base_url=second.url, timeout=60) as http:
            assert _search_ids(http, seed["globex_auth"]) == set(seed["globex_docs"])
    finally:
        second.stop()
    rows, points = _rows(data, seed["acme"]), _points(data, seed["acme"])
    blobs = data / "blobs" / uuid.UUID(seed["acme"]).hex
    if outcome == "whole":
        assert rows["documents"] == 30
        assert rows["chunks"] == points > 0
        assert len([p for p in blobs.rglob("*") if p.is_file()]) == 30
    else:
        assert rows == {"documents": 0, "chunks": 0, "api_keys": 0, "audit_events": 0}
        assert points == 0
        assert not blobs.exists()
    assert _rows(data, seed["globex"])["documents"] == 5
    assert _points(data, seed["globex"]) > 0


# -- a really full disk (tmpfs) ----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 MB tmpfs as the data dir (root only: skipped where mounting is not allowed)."""
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(filler: Path, leave_bytes: int = 0) -> Path:
    """Write `filler` until its filesystem has `leave_bytes` free (or none)."""
    folder = filler.parent
    block = b"\0" * (1 << 20)
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while (free := _free(folder)) > leave_bytes:
            out.write(block[: max(4096, min(len(block), free - leave_bytes))])
            out.flush()
    return filler


def _outcomes(http: httpx.Client, auth: dict[str, str], request_id: str) -> list[str]:
    """The outcomes of the caller's audit events made by one request."""
    found, after = [], 0
    while True:
        page = _json(
            http.get("/v1/audit", params={"after_seq": after, "limit": 1000}, headers=auth), 200
        )
        found += [e["outcome"] for e in page["events"] if e["request_id"] == request_id]
        if page["next_after_seq"] is None:
            return found
        after = page["next_after_seq"]


def _free(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def test_a_full_disk_refuses_uploads_keeps_serving_and_restarts_read_only(
    small_disk: Path,
) -> None:
    env = {**BASE_ENV, "ENCLAVE_MIN_FREE_MB": "200"}
    server = Server(small_disk, env)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            _, auth = _tenant(http, "Acme")
            docs = _upload(http, auth, 0, 3)
            # Below the reserve: uploads are refused, searches (and their records) go on.
            low = _fill(small_disk / "filler", leave_bytes=120 << 20)
            refused = http.post("/v1/documents", files=[("files", _document(7))], headers=auth)
            assert refused.status_code == 507, refused.text
            assert refused.json()["error"]["code"] == "insufficient_storage"
            assert _search_ids(http, auth) == set(docs)
            assert http.get(f"/v1/documents/{docs[0]}/content", headers=auth).status_code == 200
            assert _json(http.get("/readyz"), 200)["checks"]["disk"].startswith("degraded")
            # Not one byte left: a search is never served without its record, so 507 too.
            full = _fill(small_disk / "more")
            searched = http.post("/v1/search", json={"query": "pump"}, headers=auth)
            assert searched.status_code == 507, searched.text
            assert _json(http.get("/readyz"), 200)["status"] == "ready"
        assert server.process.poll() is None
        server.stop()
        server = Server(small_disk, env)  # starts on the full disk
        with httpx.Client(base_url=server.url, timeout=60) as http:
            again = http.post("/v1/documents", files=[("files", _document(8))], headers=auth)
            assert again.status_code == 507, again.text
            full.unlink()
            assert _search_ids(http, auth) == set(docs)
            low.unlink()
            assert _json(http.get("/readyz"), 200)["checks"]["disk"].startswith("ok")
            more = _upload(http, auth, 9, 1)
            assert set(more) <= _search_ids(http, auth, "pump valve turbine sensor")
    finally:
        server.stop()
    assert not list(small_disk.rglob(".tmp-*"))


def test_the_disk_filling_while_a_job_runs_never_kills_the_server(small_disk: Path) -> None:
    env = {**BASE_ENV, "ENCLAVE_MIN_FREE_MB": "200"}
    server = Server(small_disk, env)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            _, auth = _tenant(http, "Acme")
            files = [("files", _document(i)) for i in range(40)]
            job_id = _json(http.post("/v1/documents", files=files, headers=auth), 202)["job_id"]
            filler = _fill(small_disk / "filler")
            time.sleep(3)
            assert server.process.poll() is None, server.output()
            assert http.get("/healthz").status_code == 200
            # An audited read answers only with its audit event: 507 when the event finds no
            # room, 200 when it fits in WAL pages a checkpoint has already freed.
            held = http.get(f"/v1/jobs/{job_id}", headers=auth)
            assert held.status_code in (200, 507), held.text
            filler.unlink()
            audited = _outcomes(http, auth, held.headers["x-request-id"])
            assert ("ok" in audited) == (held.status_code == 200), audited
            job = _wait_for_job(http, job_id, auth)
            assert job["progress"]["done"] == 40
            ready = {d["id"] for d in job["documents"] if d["status"] == "ready"}
            failed = [d for d in job["documents"] if d["status"] == "failed"]
            assert len(ready) + len(failed) == 40
            assert all("disk" in str(d.get("error", "")).lower() for d in failed), failed
            assert ready <= _search_ids(http, auth) | ready  # listed ones resolve
            for doc_id in ready:
                assert _json(http.get(f"/v1/documents/{doc_id}", headers=auth), 200)["chunk_count"]
    finally:
        server.stop()


# -- Redis killed under a live server ----------------------------------------------------


def test_a_killed_redis_degrades_to_per_process_limits_without_an_error(tmp_path: Path) -> None:
    redis = RedisProcess()
    env = {**BASE_ENV, "ENCLAVE_REDIS_URL": redis.url, "ENCLAVE_REDIS_TIMEOUT_S": "0.25"}
    try:
        server = Server(tmp_path / "data", env)
    except BaseException:
        redis.kill()
        raise
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            _, auth = _tenant(http, "Acme")
            assert _json(http.get("/readyz"), 200)["checks"]["redis"] == "ok"
            redis.kill()
            began = time.monotonic()
            statuses = [http.get("/v1/documents", headers=auth).status_code for _ in range(10)]
            assert statuses == [200] * 10
            assert time.monotonic() - began < 5
            ready = _json(http.get("/readyz"), 200)
            assert ready["status"] == "ready"
            assert ready["checks"]["redis"].startswith("degraded")
            assert "enclave_rate_limit_fallback" in http.get("/metrics").text
    finally:
        server.stop()
        redis.kill()
