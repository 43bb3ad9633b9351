"""`enclave backup` against a live server, then `enclave restore` offline."""

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.settings import Settings
from tests.conftest import OPERATOR_KEY
from tests.factories import OPERATOR, auth, fixture_file
from tests.live import serve


@pytest.fixture
def embedded(database_url: str) -> None:
    """The commands cover SQLite + Qdrant Edge only."""
    if not database_url.startswith("sqlite"):
        pytest.skip("backup/restore is for the embedded default; PostgreSQL uses pg_dump")


def _tenant_with_a_document(http: httpx.Client) -> str:
    """Create a tenant, upload one document, wait until it is indexed; returns a reader key."""
    tenant = http.post("/v1/tenants", json={"name": "Acme"}, headers=OPERATOR).json()["id"]
    keys = [
        http.post(
            f"/v1/tenants/{tenant}/keys", json={"role": role, "name": role}, headers=OPERATOR
        ).json()["key"]
        for role in ("admin", "reader")
    ]
    name, data = fixture_file("acme", "handbook.md")
    upload = http.post("/v1/documents", files=[("files", (name, data))], headers=auth(keys[0]))
    job = upload.json()["job_id"]
    deadline = time.monotonic() + 60
    while http.get(f"/v1/jobs/{job}", headers=auth(keys[0])).json()["status"] != "done":
        assert time.monotonic() < deadline, "the upload was never indexed"
        time.sleep(0.1)
    return str(keys[1])


def _answers(url: str, reader: str) -> list[dict[str, Any]]:
    body = {"query": "handbook reference code", "top_k": 5}
    results: list[dict[str, Any]] = httpx.post(
        f"{url}/v1/search", json=body, headers=auth(reader)
    ).json()["results"]
    return results


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_backup_then_restore_with_the_commands(
    embedded: None, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "backups" / "nightly"
    with serve(settings) as url, httpx.Client(base_url=url) as http:
        reader = _tenant_with_a_document(http)
        before = _answers(url, reader)
        code, output = _run("backup", str(target), "--url", url, "--key", OPERATOR_KEY)
        assert code == 0, output
        assert f"backup written to {target}" in output
        assert "1 tenants, 1 documents" in output
        code, output = _run("backup", str(target), "--url", url, "--key", OPERATOR_KEY)
        assert (code, "409 backup_exists") == (1, output.split("error: ")[1][:17])
        code, output = _run("backup", str(target) + "2", "--url", url, "--key", "ek_wrong")
        assert code == 1
        assert "401 unauthenticated" in output
    assert before

    restored = tmp_path / "restored"
    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(restored))
    code, output = _run("restore", str(target))
    assert code == 0, output
    assert "1 tenants, 1 documents" in output
    code, output = _run("restore", str(target))
    assert code == 1
    assert "pass --force" in output
    code, output = _run("restore", str(target), "--force")
    assert code == 0, output
    assert "replacing what was there" in output

    again = settings.model_copy(update={"data_dir": restored, "database_url": None})
    with serve(again) as url:
        assert _answers(url, reader) == before


def test_restore_of_a_folder_that_is_no_backup_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ENCLAVE_DATABASE_URL", raising=False)
    code, output = _run("restore", str(tmp_path))
    assert code == 1
    assert "no manifest.json: not an Enclave backup, or an unfinished one" in output
    assert not (tmp_path / "data").exists()


def test_backup_says_when_no_server_answers(tmp_path: Path) -> None:
    code, output = _run(
        "backup", str(tmp_path / "b"), "--url", "http://127.0.0.1:9", "--key", OPERATOR_KEY
    )
    assert code == 1
    assert "cannot reach http://127.0.0.1:9" in output
