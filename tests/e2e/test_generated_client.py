"""A client generated from /openapi.json by openapi-python-client (nobody here wrote it)
drives the walkthrough against a real server, errors included."""

import importlib
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import Settings
from tests.conftest import OPERATOR_KEY
from tests.live import serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / ".venv" / "tools" / "bin" / "openapi-python-client"
PACKAGE = "enclave_generated"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("generated") / "data"
    with serve(Settings(data_dir=data, operator_key=OPERATOR_KEY, parse_isolation="thread")) as url:
        yield url


@pytest.fixture(scope="module")
def gen(live: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The generated package, imported."""
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: run `make venv`")
    work = tmp_path_factory.mktemp("openapi")
    (work / "openapi.json").write_text(httpx.get(f"{live}/openapi.json").text)
    (work / "config.json").write_text(json.dumps({"package_name_override": PACKAGE}))
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        str(GENERATOR),
        "generate",
        "--path",
        "openapi.json",
        "--config",
        "config.json",
        "--meta",
        "none",
        "--output-path",
        PACKAGE,
    ]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # every operation and model was understood
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))


@pytest.fixture(autouse=True)
def _closing() -> Iterator[None]:
    """Every generated client a test opens is closed when it ends."""
    yield
    while OPENED:
        OPENED.pop().__exit__(None, None, None)


OPENED: list[Any] = []


def _client(gen: Any, url: str, token: str) -> Any:
    client = gen.AuthenticatedClient(base_url=url, token=token)
    OPENED.append(client)
    return client.__enter__()


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


def _types() -> Any:
    return importlib.import_module(f"{PACKAGE}.types")


def test_the_walkthrough_with_a_generated_client(gen: Any, live: str) -> None:
    models = _models()
    operator = _client(gen, live, OPERATOR_KEY)
    tenant = _api("tenants.tenant_create").sync(
        client=operator, body=models.TenantIn(name="Gen Co")
    )
    assert isinstance(tenant, models.TenantOut)
    issue = _api("tenants.tenant_key_issue").sync
    admin_key = issue(
        tenant.id, client=operator, body=models.KeyIn(role=models.KeyInRole.ADMIN, name="admin")
    ).key
    reader_key = issue(
        tenant.id, client=operator, body=models.KeyIn(role=models.KeyInRole.READER, name="agent")
    ).key
    admin = _client(gen, live, admin_key)
    reader = _client(gen, live, reader_key)

    memo = b"Parental leave is sixteen weeks at full pay for every employee.\n"
    body = models.BodyDocumentUpload(
        files=[_types().File(payload=io.BytesIO(memo), file_name="leave.txt")],
        metadata=json.dumps({"tags": ["hr"]}),
    )
    uploaded = _api("documents.document_upload").sync(client=admin, body=body)
    assert isinstance(uploaded, models.UploadOut), uploaded
    job = _api("jobs.job_read").sync(uploaded.job_id, client=admin, wait=30.0)
    assert job.status == models.JobOutStatus.DONE

    query = models.SearchIn(query="how long is parental leave", top_k=3)
    found = _api("search.search").sync(client=reader, body=query)
    assert isinstance(found, models.SearchOut), found
    top = found.results[0]
    text = _api("documents.document_text").sync(top.citation.document_id, client=reader)
    assert text[top.citation.char_start : top.citation.char_end] == top.text
    replay = _api("search.search_replay").sync(found.search_id, client=reader)
    assert [hit.chunk_id for hit in replay.results] == [hit.chunk_id for hit in found.results]


def test_errors_arrive_as_the_documented_model(gen: Any, live: str) -> None:
    models = _models()
    nobody = _client(gen, live, "ek_not_a_key")
    search = _api("search.search")
    refused = search.sync_detailed(client=nobody, body=models.SearchIn(query="x"))
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.ErrorOut)
    assert refused.parsed.error.code == "unauthenticated"

    operator = _client(gen, live, OPERATOR_KEY)
    tenant = _api("tenants.tenant_create").sync(
        client=operator, body=models.TenantIn(name="Err Co")
    )
    key = (
        _api("tenants.tenant_key_issue")
        .sync(tenant.id, client=operator, body=models.KeyIn(role=models.KeyInRole.READER, name="r"))
        .key
    )
    reader = _client(gen, live, key)
    missing = _api("documents.document_read").sync_detailed(uuid.uuid4(), client=reader)
    assert missing.status_code == 404
    assert missing.parsed.error.code == "not_found"
    too_many = search.sync_detailed(client=reader, body=models.SearchIn(query="x", top_k=99))
    assert too_many.status_code == 422
    assert too_many.parsed.error.code == "invalid_request"
    assert "top_k" in too_many.parsed.error.message
    forbidden = _api("tenants.tenant_list").sync_detailed(client=reader)
    assert forbidden.status_code == 403
    assert forbidden.parsed.error.code == "forbidden"
