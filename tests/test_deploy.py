"""The deployment files agree with each other and with the code (static: no Docker engine here)."""

import json
import re
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, a dependency of huggingface-hub

from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
APP_SERVICES = {"migrate", "api", "worker"}
ENCLAVE_NAME = re.compile(r"\bENCLAVE_[A-Z0-9_]+\b")
COMPOSE_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")

Service = dict[str, Any]


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    compose = cast(dict[str, Any], yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))
    return cast(dict[str, Service], compose["services"])


@pytest.fixture(scope="module")
def volumes() -> set[str]:
    compose = cast(dict[str, Any], yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))
    return set(compose["volumes"])


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def arguments(instruction: str) -> list[str]:
    return [args for name, args in instructions() if name == instruction]


def dockerfile_env() -> dict[str, str]:
    pairs = [item.split("=", 1) for args in arguments("ENV") for item in args.split()]
    return dict(cast(list[tuple[str, str]], pairs))


def pyproject_pin(name: str) -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = [d for d in project["dependencies"] if re.match(rf"{re.escape(name)}\s*==", d)]
    assert len(pins) == 1, pins
    return cast(str, pins[0]).replace(" ", "")


def test_compose_has_the_topology(services: dict[str, Service]) -> None:
    assert set(services) == {"postgres", "qdrant", "redis", *APP_SERVICES}


def test_app_services_build_the_one_dockerfile(services: dict[str, Service]) -> None:
    image = services["api"]["image"]
    assert {name for name, s in services.items() if s.get("image") == image} == APP_SERVICES
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT, name
        assert context / build["dockerfile"] == DOCKERFILE, name


def test_api_only_enqueues_after_migrations(services: dict[str, Service]) -> None:
    api = services["api"]
    assert api["environment"]["ENCLAVE_WORKERS"] == "external"
    assert api["command"] == ["enclave", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "8000:8000" in api["ports"]
    conditions = {name: dep["condition"] for name, dep in api["depends_on"].items()}
    assert conditions == {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "qdrant": "service_healthy",
        "redis": "service_healthy",
    }


def test_workers_are_separate_processes_with_the_api_configuration(
    services: dict[str, Service],
) -> None:
    worker, api = services["worker"], services["api"]
    assert worker["command"] == ["enclave", "worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert "ports" not in worker
    assert worker["healthcheck"] == {"disable": True}  # the image's check probes HTTP
    assert worker["depends_on"] == api["depends_on"]
    shared = {k: v for k, v in api["environment"].items() if k in worker["environment"]}
    assert shared == worker["environment"]
    assert "ENCLAVE_WORKERS" not in worker["environment"]


def test_migrate_runs_once_against_the_database(services: dict[str, Service]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["enclave", "migrate"]
    assert migrate["restart"] == "no"
    assert set(migrate["depends_on"]) == {"postgres"}
    assert migrate["environment"]["ENCLAVE_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_stores_are_pinned_healthchecked_and_persistent(
    services: dict[str, Service], volumes: set[str]
) -> None:
    assert services["postgres"]["image"] == "postgres:16"
    client = pyproject_pin("qdrant-client").split("==")[1]
    minor = ".".join(client.split(".")[:2])
    assert re.fullmatch(rf"qdrant/qdrant:v{re.escape(minor)}\.\d+", services["qdrant"]["image"])
    for name in ("postgres", "qdrant", "redis"):
        assert services[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    for name in ("postgres", "qdrant"):
        named = {mount.split(":")[0] for mount in services[name]["volumes"]}
        assert named, name
        assert named <= volumes, name


def test_api_and_workers_share_one_blob_volume(
    services: dict[str, Service], volumes: set[str]
) -> None:
    for name in ("api", "worker"):
        blob_dir = services[name]["environment"]["ENCLAVE_BLOB_DIR"]
        assert f"blobs:{blob_dir}" in services[name]["volumes"], name
        # The image's data dir holds the encoder exported at build time: keep it.
        assert "ENCLAVE_DATA_DIR" not in services[name]["environment"], name
    assert "blobs" in volumes
    assert dockerfile_env()["ENCLAVE_DATA_DIR"] == "/data"


def test_every_enclave_variable_is_a_setting() -> None:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    known = {f"{prefix}{field}".upper() for field in Settings.model_fields}
    used: set[str] = set()
    for path in (COMPOSE, DOCKERFILE, ENV_EXAMPLE, COMPOSE.parent / "README.md"):
        used |= set(ENCLAVE_NAME.findall(path.read_text(encoding="utf-8")))
    assert {"ENCLAVE_DATABASE_URL", "ENCLAVE_QDRANT_URL", "ENCLAVE_DATA_DIR"} <= used
    assert used - known == set()


def test_compose_variables_come_from_the_env_example() -> None:
    referenced = set(COMPOSE_VARIABLE.findall(COMPOSE.read_text(encoding="utf-8")))
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert (
        referenced
        == set(example)
        == {"POSTGRES_PASSWORD", "QDRANT_API_KEY", "ENCLAVE_OPERATOR_KEY"}
    )
    assert set(example.values()) == {""}  # no secret is ever committed


def test_dockerfile_installs_everything_offline() -> None:
    assert arguments("FROM") == ["python:3.11-slim-bookworm"]
    env = dockerfile_env()
    offline = (
        "DO_NOT_TRACK",
        "UNSTRUCTURED_DISABLE_NOTICE",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
    )
    assert {name: env[name] for name in offline} == dict.fromkeys(offline, "1")
    runs = arguments("RUN")
    torch = pyproject_pin("torch")
    assert any(
        f"pip install {torch} --index-url https://download.pytorch.org/whl/cpu" in r for r in runs
    )
    make_pin = re.search(
        r"--no-deps (unstructured-inference==\S+)", (ROOT / "Makefile").read_text()
    )
    assert make_pin is not None
    assert any(f"--no-deps {make_pin.group(1)}" in r for r in runs)
    assert any(r.startswith("--network=none") and "build_embedder(Settings())" in r for r in runs)
    assert any(r.startswith("--network=none") and "warm_up()" in r for r in runs)


def test_dockerfile_runs_the_api_as_a_user_with_a_healthcheck() -> None:
    assert arguments("USER") == ["enclave"]
    assert arguments("EXPOSE") == ["8000"]
    (healthcheck,) = arguments("HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in healthcheck
    (cmd,) = arguments("CMD")
    assert json.loads(cmd) == ["enclave", "serve", "--host", "0.0.0.0", "--port", "8000"]


def test_the_image_gets_every_package_and_the_migrations() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    found = setuptools["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in found} | {"client"}
    copied = {args.split()[0] for args in arguments("COPY")}
    assert packages | {"migrations"} <= copied
    assert "pyproject.toml" in " ".join(arguments("COPY"))
    ignored = set(DOCKERIGNORE.read_text(encoding="utf-8").splitlines())
    assert {".venv", "data", ".git"} <= ignored
    assert not ignored & (packages | {"migrations", "pyproject.toml", "README.md"})
