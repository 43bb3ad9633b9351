"""The README walkthrough against a real `enclave serve` process with the real model."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import FIXTURES

pytestmark = pytest.mark.slow

ENCLAVE = Path(sys.executable).parent / "enclave"
KEY_LINE = re.compile(r"operator key \(shown once, store it now\): (\S+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """An `enclave serve` child process on a free port."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"serve-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
        env["ENCLAVE_DATA_DIR"] = str(data_dir)
        env.update(extra_env or {})
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(ENCLAVE), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"server did not become ready:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir)
    yield running
    running.stop()


def _json(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _wait_for_job(http: httpx.Client, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = _json(http.get(f"/v1/jobs/{job_id}", headers=headers), 200)
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.5)
    raise AssertionError("job did not finish")


def test_readme_walkthrough(server: Server, data_dir: Path) -> None:
    match = KEY_LINE.search(server.output())
    assert match, server.output()
    op = {"Authorization": f"Bearer {match.group(1)}"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        tenant = _json(http.post("/v1/tenants", json={"name": "Acme Robotics"}, headers=op), 201)
        keys = f"/v1/tenants/{tenant['id']}/keys"
        admin = _json(
            http.post(keys, json={"role": "admin", "name": "acme admin"}, headers=op), 201
        )
        reader = _json(
            http.post(keys, json={"role": "reader", "name": "acme agent"}, headers=op), 201
        )
        a = {"Authorization": f"Bearer {admin['key']}"}
        r = {"Authorization": f"Bearer {reader['key']}"}
        files = [
            ("files", (name, (FIXTURES / "acme" / name).read_bytes()))
            for name in ("handbook.md", "policy.txt", "faq.html", "report.pdf")
        ]
        upload = _json(
            http.post(
                "/v1/documents", files=files, data={"metadata": '{"tags": ["hr"]}'}, headers=a
            ),
            202,
        )
        job = _wait_for_job(http, upload["job_id"], a)
        assert job["progress"] == {"total": 4, "done": 4, "failed": 0}, job
        found = _json(
            http.post(
                "/v1/search", json={"query": "How long is parental leave?", "top_k": 3}, headers=r
            ),
            200,
        )
        top = found["results"][0]
        assert "16 weeks" in top["text"]
        citation = top["citation"]
        text = http.get(f"/v1/documents/{citation['document_id']}/text", headers=r).text
        assert text[citation["char_start"] : citation["char_end"]] == top["text"]
        replay = _json(http.get(f"/v1/searches/{found['search_id']}", headers=r), 200)
        assert [h["text"] for h in replay["results"]] == [h["text"] for h in found["results"]]
    server.stop()
    again = Server(data_dir)
    try:
        assert KEY_LINE.search(again.output()) is None  # printed once, on first start only
        with httpx.Client(base_url=again.url, timeout=60) as http:
            still = _json(http.post("/v1/search", json={"query": "parental leave"}, headers=r), 200)
            assert still["results"][0]["chunk_id"] == top["chunk_id"]
    finally:
        again.stop()


def _operator_key(server: Server) -> str:
    match = KEY_LINE.search(server.output())
    assert match, server.output()
    return match.group(1)


def _admin_key(server: Server) -> str:
    op = {"Authorization": f"Bearer {_operator_key(server)}"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        tenant = _json(http.post("/v1/tenants", json={"name": "Globex"}, headers=op), 201)
        body = {"role": "admin", "name": "cli"}
        key: str = _json(http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=op), 201)[
            "key"
        ]
        return key


def test_ingest_cli_uploads_a_folder_and_reports_failures(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "hr" / "policies").mkdir(parents=True)
    (folder / "hr" / "handbook.md").write_bytes((FIXTURES / "globex" / "handbook.md").read_bytes())
    (folder / "hr" / "policies" / "policy.txt").write_bytes(
        (FIXTURES / "globex" / "policy.txt").read_bytes()
    )
    (folder / ".hidden.txt").write_text("ignored")
    key = _admin_key(server)
    command = [
        str(ENCLAVE),
        "ingest",
        str(folder),
        "--url",
        server.url,
        "--key",
        key,
        "--tags",
        "cli",
    ]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 ready, 0 failed" in ok.stdout
    (folder / "hr" / "locked.pdf").write_bytes((FIXTURES / "bad" / "encrypted.pdf").read_bytes())
    bad = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "locked.pdf" in bad.stdout
    assert "encrypted" in bad.stdout.lower()
    with httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        docs = _json(http.get("/v1/documents?tag=cli"), 200)["documents"]
    assert {d["path"] for d in docs} == {
        "hr/handbook.md",
        "hr/policies/policy.txt",
        "hr/locked.pdf",
    }


def test_enclave_probe_passes_against_a_live_server(server: Server) -> None:
    command = [str(ENCLAVE), "probe", "--url", server.url, "--operator-key", _operator_key(server)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " 0 leaks, 0 unexpected answers" in result.stdout
