"""`enclave backup` of a live `enclave serve` (real model) while it indexes, `enclave restore`
into a fresh data dir, and a second server that answers exactly like the first."""

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import ENCLAVE, KEY_LINE, Server, _json, _wait_for_job
from tests.factories import FIXTURES

pytestmark = pytest.mark.slow

FIRST = ["handbook.md", "policy.txt", "faq.html", "report.pdf"]
LATE = ["onboarding.docx", "minutes.odt", "letter.rtf", "roadmap.pptx"]
QUERIES = ["How long is parental leave?", "security incident policy", "quarterly budget"]


def _enclave(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    command = [str(ENCLAVE), *args]
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True)


def _files(tenant: str, names: list[str]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name, (FIXTURES / tenant / name).read_bytes())) for name in names]


def _tenant(http: httpx.Client, op: dict[str, str], name: str) -> dict[str, dict[str, str]]:
    tenant = _json(http.post("/v1/tenants", json={"name": name}, headers=op), 201)
    keys = {}
    for role in ("admin", "reader"):
        body = {"role": role, "name": role}
        issued = _json(http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=op), 201)
        keys[role] = {"Authorization": f"Bearer {issued['key']}"}
    return keys


def _answers(http: httpx.Client, reader: dict[str, str]) -> list[list[dict[str, Any]]]:
    found = [
        _json(http.post("/v1/search", json={"query": q, "top_k": 5}, headers=reader), 200)
        for q in QUERIES
    ]
    return [f["results"] for f in found]


def _same(before: list[list[dict[str, Any]]], after: list[list[dict[str, Any]]]) -> None:
    """Same hits, texts and citations. Equal fused scores are ties whose order the engine
    does not fix (not even across restarts), so hits are compared in (score, id) order."""
    assert len(before) == len(after)
    for one, two in zip(before, after, strict=True):
        one, two = _canonical(one), _canonical(two)
        assert [(h["chunk_id"], h["text"], h["citation"]) for h in one] == [
            (h["chunk_id"], h["text"], h["citation"]) for h in two
        ]
        assert [h["score"] for h in one] == pytest.approx([h["score"] for h in two], abs=1e-6)


def _canonical(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(hits, key=lambda h: (-round(h["score"], 6), h["chunk_id"]))


def test_a_backup_of_a_live_server_restores_to_the_same_answers(tmp_path: Path) -> None:
    # Restored on another machine, so to speak: its checkpoints come from the backup (next
    # to the first data dir, the first server's later checkpoints would rightly report the
    # events the restore rolled back).
    target, restored = tmp_path / "backups" / "nightly", tmp_path / "elsewhere" / "data"
    first = Server(tmp_path / "data")
    try:
        match = KEY_LINE.search(first.output())
        assert match, first.output()
        op = {"Authorization": f"Bearer {match.group(1)}"}
        with httpx.Client(base_url=first.url, timeout=60) as http:
            tenants = [_tenant(http, op, "Acme"), _tenant(http, op, "Globex")]
            for keys, folder in zip(tenants, ("acme", "globex"), strict=True):
                job = _json(
                    http.post("/v1/documents", files=_files(folder, FIRST), headers=keys["admin"]),
                    202,
                )
                _wait_for_job(http, job["job_id"], keys["admin"])
            late = _json(
                http.post("/v1/documents", files=_files("acme", LATE), headers=tenants[0]["admin"]),
                202,
            )
            made = _enclave(
                "backup", str(target), "--url", first.url, ENCLAVE_OPERATOR_KEY=match.group(1)
            )
            assert made.returncode == 0, made.stderr
            assert "2 tenants" in made.stdout
            assert _wait_for_job(http, late["job_id"], tenants[0]["admin"])["status"] == "done"
            before = [_answers(http, keys["reader"]) for keys in tenants]
    finally:
        first.stop()

    done = _enclave("restore", str(target), ENCLAVE_DATA_DIR=str(restored))
    assert done.returncode == 0, done.stderr
    second = Server(restored)
    try:
        with httpx.Client(base_url=second.url, timeout=60) as http:
            # Whatever the snapshot caught mid-indexing is finished by the restored server.
            assert _wait_for_job(http, late["job_id"], tenants[0]["admin"])["status"] == "done"
            for keys, answers in zip(tenants, before, strict=True):
                _same(answers, _answers(http, keys["reader"]))
                verified = _json(http.get("/v1/audit/verify", headers=keys["admin"]), 200)
                assert verified["ok"] is True
    finally:
        second.stop()
