"""`enclave sync` against a real `enclave serve`: edit and delete files, sync, search."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import ENCLAVE, KEY_LINE, Server

pytestmark = pytest.mark.slow


def _sync(folder: Path, server: Server, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    command = [str(ENCLAVE), "sync", str(folder), "--source", "handbook", "--url", server.url]
    return subprocess.run(
        [*command, "--key", key, *extra], capture_output=True, text=True, env=env, timeout=300
    )


def _admin_and_reader(server: Server) -> tuple[str, str]:
    match = KEY_LINE.search(server.output())
    assert match, server.output()
    op = {"Authorization": f"Bearer {match.group(1)}"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        tenant = http.post("/v1/tenants", json={"name": "Acme"}, headers=op).json()
        keys = f"/v1/tenants/{tenant['id']}/keys"
        admin = http.post(keys, json={"role": "admin", "name": "a"}, headers=op).json()["key"]
        reader = http.post(keys, json={"role": "reader", "name": "r"}, headers=op).json()["key"]
    return admin, reader


def _texts(server: Server, reader: str, query: str) -> list[str]:
    body = {"query": query, "top_k": 20}
    headers = {"Authorization": f"Bearer {reader}"}
    found = httpx.post(f"{server.url}/v1/search", json=body, headers=headers, timeout=60)
    return [hit["text"] for hit in found.json()["results"]]


def _summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_enclave_sync_mirrors_a_folder_through_edits_and_deletes(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    try:
        admin, reader = _admin_and_reader(server)
        folder = tmp_path / "handbook"
        (folder / "policies").mkdir(parents=True)
        (folder / "leave.md").write_text("# Leave\n\nParental leave lasts sixteen weeks.\n")
        (folder / "policies" / "travel.txt").write_text("Book travel two weeks ahead.\n")
        (folder / "policies" / "safety.txt").write_text("Hard hats on the factory floor.\n")
        (folder / ".hidden.txt").write_text("Never synced: hidden.\n")
        (folder / "drafts").mkdir()
        (folder / "drafts" / "draft.txt").write_text("Never synced: ignored draft.\n")
        (folder / ".enclaveignore").write_text("drafts/\n")
        outside = tmp_path / "outside.txt"
        outside.write_text("Never synced: outside the folder.\n")
        (folder / "link.txt").symlink_to(outside)

        first = _sync(folder, server, admin, "--json")
        assert first.returncode == 0, first.stderr
        run = _summary(first)
        assert run["counts"]["add"] == 3
        assert sorted(e["path"] for e in run["entries"]) == [
            "leave.md",
            "policies/safety.txt",
            "policies/travel.txt",
        ]

        (folder / "leave.md").write_text("# Leave\n\nParental leave lasts twenty weeks.\n")
        (folder / "policies" / "safety.txt").unlink()
        planned = _sync(folder, server, admin, "--dry-run")
        assert planned.returncode == 0, planned.stderr
        assert "would" in planned.stdout
        assert "1 update" in planned.stdout
        assert "1 erased" in planned.stdout

        second = _sync(folder, server, admin, "--json")
        assert second.returncode == 0, second.stderr
        counts = _summary(second)["counts"]
        assert (counts["update"], counts["erase"], counts["unchanged"]) == (1, 1, 1)
        texts = _texts(server, reader, "parental leave hard hats travel weeks")
        assert any("twenty weeks" in t for t in texts)
        assert not any("sixteen weeks" in t or "Hard hats" in t for t in texts)
        assert not any("Never synced" in t for t in texts)

        unchanged = _sync(folder, server, admin, "--json")
        assert _summary(unchanged)["counts"]["unchanged"] == 2

        (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
        failed = _sync(folder, server, admin, "--json")
        assert failed.returncode == 1, failed.stderr
        assert _summary(failed)["counts"]["failed"] == 1
        assert any("twenty weeks" in t for t in _texts(server, reader, "parental leave"))

        unreachable = subprocess.run(
            [
                str(ENCLAVE),
                "sync",
                str(folder),
                "--source",
                "x",
                "--url",
                "http://127.0.0.1:9",
                "--key",
                admin,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert unreachable.returncode == 2
        assert "cannot reach" in unreachable.stderr
    finally:
        server.stop()
