"""The leakage probe against a live server: clean on the real code, loud when isolation breaks."""

from collections.abc import Iterator

import pytest
from rich.console import Console
from sqlalchemy import select, true

from api.probe.run import Credentials, run
from api.settings import Settings
from ingest import jobs
from ingest.jobs import JobView
from ingest.models import Job
from tenancy import scope
from tenancy.scope import Scope
from tests.conftest import OPERATOR_KEY
from tests.live import serve

pytestmark = pytest.mark.slow


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free port, with its worker running."""
    with serve(settings) as url:
        yield url


def test_the_probe_finds_no_leak(live_url: str) -> None:
    console = Console(record=True, width=200)
    code = run(live_url, Credentials(operator=OPERATOR_KEY), console)
    text = console.export_text()
    assert code == 0, text
    assert " 0 leaks, 0 unexpected answers" in text
    assert "within a tenant:" in text


def test_the_probe_catches_a_missing_tenant_filter(
    live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bug: the funnel loses its tenant condition, both where it builds a statement and
    # where it runs one (each alone is caught by the other).
    monkeypatch.setattr(Scope, "_owned", lambda self, model: true())
    monkeypatch.setattr(scope, "_owned_tables", lambda statement: [])
    console = Console(record=True, width=200)
    code = run(live_url, Credentials(operator=OPERATOR_KEY), console)
    text = console.export_text()
    assert code == 1
    assert "LEAK" in text
    assert " 0 leaks" not in text


def test_the_probe_catches_a_missing_access_filter(
    live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bug: the scope forgets to guard documents and chunks by the caller's access.
    monkeypatch.setattr(scope, "_GUARDS", {})
    console = Console(record=True, width=200)
    code = run(live_url, Credentials(operator=OPERATOR_KEY), console)
    text = console.export_text()
    assert code == 1
    within = [line for line in text.splitlines() if line.startswith("within a tenant")]
    assert within
    assert " 0 leaks" not in within[0]
    across = [line for line in text.splitlines() if line.startswith("across tenants")]
    assert " 0 leaks" in across[0]


def test_the_probe_reads_every_list_for_the_other_tenants_objects(
    live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bug: one list, the jobs', forgets its tenant (every tenant's jobs, newest first).
    def every_tenants_jobs(scope: Scope, *, limit: int, offset: int = 0) -> list[JobView]:
        newest = select(Job).order_by(Job.created_at.desc()).limit(limit).offset(offset)
        return [jobs.summarize(job, []) for job in scope.session.scalars(newest)]

    monkeypatch.setattr(jobs, "list_jobs", every_tenants_jobs)
    console = Console(record=True, width=200)
    code = run(live_url, Credentials(operator=OPERATOR_KEY), console)
    text = console.export_text()
    assert code == 1
    leaks = [line for line in text.splitlines() if "LEAK" in line]
    assert leaks
    assert all("lists its /v1/jobs" in line for line in leaks), leaks
