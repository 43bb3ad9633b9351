"""The CLI verbs that used to need curl, against a real server: tenants, keys, operator keys,
documents, search; `--url`/`--key` from the environment, `--json`, one-line errors."""

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.settings import Settings
from tests.conftest import OPERATOR_KEY
from tests.live import serve

pytestmark = pytest.mark.slow

ENCLAVE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "enclave"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("cli") / "data"
    with serve(Settings(data_dir=data, operator_key=OPERATOR_KEY, parse_isolation="thread")) as url:
        yield url


def _run(url: str, key: str, *args: str) -> Any:
    """`enclave ARGS --json` with the server and key from the environment: its JSON."""
    result = CliRunner().invoke(
        app, [*args, "--json"], env={"ENCLAVE_URL": url, "ENCLAVE_KEY": key}
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_operator_and_an_admin_work_from_the_shell(live: str) -> None:
    tenant = _run(live, OPERATOR_KEY, "tenants", "create", "Shell Co")
    assert tenant["name"] == "Shell Co"
    assert tenant["id"] in [t["id"] for t in _run(live, OPERATOR_KEY, "tenants", "list")]
    admin = _run(
        live,
        OPERATOR_KEY,
        "keys",
        "create",
        "--tenant",
        tenant["id"],
        "--role",
        "admin",
        "--name",
        "a",
    )
    reader = _run(
        live,
        admin["key"],
        "keys",
        "create",
        "--role",
        "reader",
        "--name",
        "ana",
        "--user",
        "ana",
        "--group",
        "hr",
    )
    assert (reader["user"], reader["groups"]) == ("ana", ["hr"])
    assert {k["name"] for k in _run(live, admin["key"], "keys", "list")} == {"a", "ana"}

    memo = b"The cafeteria opens at half past seven every weekday morning.\n"
    headers = {"Authorization": f"Bearer {admin['key']}"}
    upload = httpx.post(
        f"{live}/v1/documents", files={"files": ("cafe.txt", memo)}, headers=headers
    )
    job = httpx.get(f"{live}/v1/jobs/{upload.json()['job_id']}?wait=30", headers=headers).json()
    assert job["status"] == "done"

    found = _run(live, reader["key"], "search", "when does the cafeteria open", "--top-k", "2")
    assert "half past seven" in found["results"][0]["text"]
    documents = _run(live, admin["key"], "documents", "list")["documents"]
    assert [d["filename"] for d in documents] == ["cafe.txt"]
    receipt = _run(live, admin["key"], "documents", "delete", documents[0]["id"])
    assert receipt["erased"]
    assert receipt["documents"] == 1

    revoked = _run(live, admin["key"], "keys", "revoke", reader["id"])
    assert revoked["revoked_at"]
    erased = _run(live, OPERATOR_KEY, "tenants", "delete", tenant["id"], "--yes")
    assert erased["erased"]


def test_operator_keys_from_the_shell(live: str) -> None:
    spare = _run(live, OPERATOR_KEY, "operator-keys", "create", "spare")
    listed = _run(live, spare["key"], "operator-keys", "list")
    assert {"configured", "spare"} <= {k["name"] for k in listed}
    assert _run(live, OPERATOR_KEY, "operator-keys", "revoke", spare["id"])["revoked_at"]


def test_errors_are_one_line_with_an_exit_code(live: str, tmp_path: Path) -> None:
    env = {**os.environ, "ENCLAVE_URL": live, "ENCLAVE_KEY": "ek_nobody"}
    refused = subprocess.run(
        [str(ENCLAVE), "tenants", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert (
        refused.stderr.strip() == "error: 401 unauthenticated: invalid, revoked or expired API key"
    )
    missing = CliRunner().invoke(
        app, ["documents", "delete", str(uuid.uuid4()), "--url", live, "--key", OPERATOR_KEY]
    )
    assert missing.exit_code == 1
    assert "403 forbidden" in missing.stderr
    unreachable = CliRunner().invoke(
        app, ["tenants", "list", "--url", "http://127.0.0.1:9", "--key", OPERATOR_KEY]
    )
    assert unreachable.exit_code == 2
    assert unreachable.stderr.startswith("error: cannot reach http://127.0.0.1:9")
    elsewhere = subprocess.run(
        [str(ENCLAVE), "audit", "verify"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")},
    )
    assert elsewhere.returncode == 2
    assert len(elsewhere.stderr.strip().splitlines()) == 1
    assert "ENCLAVE_DATA_DIR" in elsewhere.stderr


def test_version_is_the_package_version() -> None:
    from importlib import metadata

    done = subprocess.run([str(ENCLAVE), "--version"], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"enclave {metadata.version('enclave-search')}"


def test_a_short_configured_operator_key_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    env |= {"ENCLAVE_OPERATOR_KEY": "short-key", "ENCLAVE_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [str(ENCLAVE), "serve", "--port", "9"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: setting operator_key:")
    assert "at least 32 characters" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
