"""Shared fixtures: both databases, a real app on a fresh data dir, API helpers."""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.app import create_app
from api.ops import migrate
from api.services import Services
from api.settings import Settings
from tenancy.db import make_engine, session_factory
from tests.fakes import HashingEmbedder

PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
OPERATOR_KEY = "ek_test-operator-key-000000000000000000000000"


def _postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_up() -> bool:
    """Whether the PostgreSQL server answers (CI starts it; tests fail loudly if it is missing)."""
    return _postgres_available()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_up: bool
) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'enclave.db'}"
        return
    if not postgres_up and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_up: bool) -> Iterator[str]:
    """A fresh schema on the real PostgreSQL (for tests only PostgreSQL can run)."""
    if not postgres_up and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A new schema on the real PostgreSQL, dropped afterwards; yields its SQLAlchemy URL."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    """A session on a freshly migrated database; the test's work is rolled back."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings of a test server: own data dir, given database, no background worker."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        operator_key=OPERATOR_KEY,
        workers="external",
        parse_isolation="thread",
        # SQLite runs with the embedded default (Edge); PostgreSQL with qdrant-client,
        # the stand-in for a Qdrant server: both engines serve the whole API suite.
        qdrant_url=None if database_url.startswith("sqlite") else "local",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real application with its lifespan running, and a fake embedder."""
    application = create_app(settings, embedder=HashingEmbedder())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def services(app: FastAPI) -> Services:
    """The app's built services."""
    built: Services = app.state.services
    return built


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://enclave.test") as http:
        yield http
