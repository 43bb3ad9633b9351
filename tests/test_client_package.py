"""The client distribution is thin: resolving it (and its adapter extras) pulls no server
dependency, and its only top-level module is `enclave_client`."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIN = {
    "annotated-types",
    "anyio",
    "certifi",
    "enclave-client",
    "h11",
    "httpcore",
    "httpx",
    "httpx-retries",
    "idna",
    "pydantic",
    "pydantic-core",
    "typing-extensions",
    "typing-inspection",
    "sniffio",
}
SERVER_ONLY = {
    "torch",
    "fastapi",
    "sqlalchemy",
    "unstructured",
    "qdrant-client",
    "qdrant-edge-py",
    "sentence-transformers",
    "spacy",
    "onnxruntime",
    "alembic",
    "uvicorn",
    "psycopg",
    "redis",
    "enclave-search",
}


def _resolved(requirement: str) -> set[str]:
    """What pip would install for `requirement` into an empty environment (nothing installed)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        "-",
        requirement,
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    report = json.loads(done.stdout)
    return {item["metadata"]["name"].lower().replace("_", "-") for item in report["install"]}


@pytest.mark.slow
def test_the_client_resolves_to_httpx_and_pydantic_only() -> None:
    assert _resolved("./client") <= THIN


@pytest.mark.slow
def test_the_adapter_extras_pull_no_server_dependency() -> None:
    resolved = _resolved("./client[langchain,pydantic-ai,receipts]")
    assert {"langchain-core", "pydantic-ai-slim", "pyjwt"} <= resolved
    assert not resolved & SERVER_ONLY


def test_the_client_ships_one_top_level_package() -> None:
    config = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["enclave_client*"]
    modules = {
        p.name
        for p in (ROOT / "client").iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert modules == {"enclave_client"}
