"""`enclave worker` processes sharing PostgreSQL: each document claimed once, a worker killed
with -9 has its documents reclaimed when its lease expires, SIGTERM finishes the batch.

Separate workers need a vector store every process can reach (a Qdrant server); none can
run here, so each worker indexes into its own qdrant-client local store. What this test
proves is the claiming: leases, heartbeats and reclaim across real processes on the real
database; the index side of ingestion is covered in-process by tests/ingest/test_leases.py.
"""

import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import Settings
from retrieval.models import Chunk, Document
from tenancy.db import make_engine
from tests.conftest import OPERATOR_KEY
from tests.e2e.test_serve import ENCLAVE
from tests.factories import OPERATOR, auth
from tests.fakes import HashingEmbedder

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@dataclass
class WorkerProcess:
    """One `enclave worker` child."""

    process: "subprocess.Popen[bytes]"
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _start(tmp_path: Path, env: dict[str, str], n: int) -> WorkerProcess:
    log = tmp_path / f"worker-{n}.log"
    full = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    full.update(env, ENCLAVE_DATA_DIR=str(tmp_path / f"worker-{n}"))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ENCLAVE), "worker"], stdout=out, stderr=subprocess.STDOUT, env=full
        )
    return WorkerProcess(process, log)


@pytest.fixture
def workers(tmp_path: Path, postgres_url: str) -> Iterator[Callable[[int], WorkerProcess]]:
    """Starts worker processes on the test's PostgreSQL schema; all are stopped at the end."""
    started: list[WorkerProcess] = []
    env = {
        "ENCLAVE_DATABASE_URL": postgres_url,
        "ENCLAVE_BLOB_DIR": str(tmp_path / "blobs"),
        "ENCLAVE_QDRANT_URL": "local",
        "ENCLAVE_EMBEDDING_BACKEND": "torch",  # loads at once; no ONNX export per data dir
        "ENCLAVE_PARSE_ISOLATION": "thread",
        "ENCLAVE_WORKER_LEASE_S": "2",
        "ENCLAVE_WORKER_POLL_S": "0.2",
    }

    def start(n: int) -> WorkerProcess:
        started.append(_start(tmp_path, env, n))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait(30)


@pytest.fixture
def api(tmp_path: Path, postgres_url: str) -> Iterator[TestClient]:
    """The API in this process, queueing only (ENCLAVE_WORKERS=external)."""
    settings = Settings(
        data_dir=tmp_path / "api",
        blob_dir=tmp_path / "blobs",
        database_url=postgres_url,
        qdrant_url="local",
        operator_key=OPERATOR_KEY,
        workers="external",
        key_rate_per_second=1000,
        key_rate_burst=1000,
    )
    with TestClient(create_app(settings, embedder=HashingEmbedder())) as client:
        yield client


def _admin(api: TestClient) -> dict[str, str]:
    tenant = api.post("/v1/tenants", json={"name": "Acme"}, headers=OPERATOR).json()
    body = {"role": "admin", "name": "admin"}
    key = api.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=OPERATOR).json()
    return auth(key["key"])


def _upload(api: TestClient, headers: dict[str, str], files: list[tuple[str, bytes]]) -> list[str]:
    parts = [("files", (name, data, "text/plain")) for name, data in files]
    response = api.post("/v1/documents", files=parts, headers=headers)
    assert response.status_code == 202, response.text
    return [d["id"] for d in response.json()["documents"]]


def _notes(prefix: str, count: int, paragraphs: int = 1) -> list[tuple[str, bytes]]:
    rng = random.Random(prefix)
    words = ["pump", "valve", "rotor", "seal", "bearing", "gasket", "motor", "relay"]
    return [
        (
            f"{prefix}-{i}.txt",
            "\n\n".join(
                " ".join(rng.choice(words) for _ in range(150)) for _ in range(paragraphs)
            ).encode(),
        )
        for i in range(count)
    ]


def _rows(engine: Engine, ids: list[str]) -> list[Document]:
    with Session(engine) as session:
        query = select(Document).where(Document.id.in_([uuid.UUID(i) for i in ids]))
        return list(session.scalars(query))


def _wait(what: str, check: Callable[[], bool], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def _owner_pid(owner: str | None) -> int | None:
    return int(owner.split(":")[1]) if owner else None


def _chunks_exact(engine: Engine, doc: Document) -> bool:
    with engine.connect() as conn:
        query = select(func.count(), func.count(func.distinct(Chunk.ordinal))).where(
            Chunk.document_id == doc.id
        )
        total, distinct = conn.execute(query).one()
    return bool(total == distinct == doc.chunk_count > 0)


def test_workers_claim_once_reclaim_after_kill_and_finish_on_sigterm(
    api: TestClient, workers: Callable[[int], WorkerProcess], postgres_url: str
) -> None:
    engine = make_engine(postgres_url)
    procs = [workers(n) for n in range(3)]
    _wait("every worker runs", lambda: all("started" in w.output() for w in procs))
    admin = _admin(api)

    # 1. A large document is claimed by one worker, which is killed -9 mid-document.
    (big,) = _upload(api, admin, _notes("big", 1, paragraphs=30))
    _wait("a worker claims it", lambda: _rows(engine, [big])[0].status == "processing")
    victim_pid = _owner_pid(_rows(engine, [big])[0].lease_owner)
    victim = next(w for w in procs if w.process.pid == victim_pid)
    victim.process.send_signal(signal.SIGKILL)
    assert victim.process.wait(30) == -signal.SIGKILL

    # 2. The survivors share a batch of small ones and reclaim the big one when its lease ends.
    small = _upload(api, admin, _notes("small", 20))
    everything = [big, *small]
    _wait("all are ready", lambda: {d.status for d in _rows(engine, everything)} == {"ready"})
    docs = {str(d.id): d for d in _rows(engine, everything)}
    assert docs[big].attempts == 2, "the killed worker's document was reclaimed once"
    assert {docs[i].attempts for i in small} == {1}, "every other document was claimed once"
    assert all(_chunks_exact(engine, d) for d in docs.values())

    # 3. SIGTERM mid-batch: the worker finishes what it claimed, then exits cleanly.
    survivors = [w for w in procs if w is not victim]
    more = _upload(api, admin, _notes("more", 24, paragraphs=2))
    pids = {w.process.pid for w in survivors}
    _wait(
        "a batch is in work",
        lambda: any(_owner_pid(d.lease_owner) in pids for d in _rows(engine, more)),
    )
    busy_pid = next(pid for d in _rows(engine, more) if (pid := _owner_pid(d.lease_owner)) in pids)
    busy = next(w for w in survivors if w.process.pid == busy_pid)
    busy.process.send_signal(signal.SIGTERM)
    assert busy.process.wait(120) == 0, busy.output()
    _wait("the rest are ready", lambda: {d.status for d in _rows(engine, more)} == {"ready"})
    assert {d.attempts for d in _rows(engine, more)} == {1}, "nothing the stopped worker had"
    engine.dispose()
