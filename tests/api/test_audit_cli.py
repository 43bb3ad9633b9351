"""`enclave audit verify|export` against the database, offline."""

import json
import uuid

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from api.cli.audit import app
from api.services import Services
from tenancy.models import AuditEvent
from tests.api.conftest import World


def _run(args: list[str], services: Services, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("ENCLAVE_DATABASE_URL", services.settings.resolved_database_url())
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


async def test_verify_passes_then_fails_on_a_tampered_row(
    world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _run(["verify"], services, monkeypatch)
    assert code == 0, output
    assert output.count(": ok") == 3  # two tenants and the system chain
    with services.sessions.begin() as session:
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.tenant_id == uuid.UUID(world.b.keys.id), AuditEvent.seq == 1)
            .values(action="forged")
        )
    code, output = _run(["verify"], services, monkeypatch)
    assert code == 1
    assert f"{world.b.keys.id}: BROKEN at seq 1" in output


async def test_export_streams_the_tenants_events_as_json_lines(
    world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _run(["export", "--tenant", world.a.keys.id], services, monkeypatch)
    assert code == 0
    events = [json.loads(line) for line in output.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["tenant_id"] for e in events} == {world.a.keys.id}
    assert all(events[i]["prev_hash"] == events[i - 1]["hash"] for i in range(1, len(events)))
