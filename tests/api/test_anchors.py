"""The audit chain against its checkpoints outside the database: every kind of tampering is
reported with the first sequence number no longer proven, on SQLite and PostgreSQL."""

import uuid
from typing import Any

import httpx
from sqlalchemy import Connection, delete, event, select

from api.services import Services
from tenancy import anchors, audit, signing, sqlite
from tenancy.ids import TenantId
from tenancy.models import AuditEvent
from tests.api.conftest import World
from tests.factories import auth


async def _events(client: httpx.AsyncClient, services: Services, world: World, n: int) -> int:
    """`n` more audited requests of tenant A, each anchored at once; the head's seq."""
    for _ in range(n):
        await client.get("/v1/documents", headers=auth(world.a.keys.admin))
        services.anchorer.anchor_now()
    return _head(services, world)


def _head(services: Services, world: World) -> int:
    with services.sessions() as session:
        query = select(AuditEvent.seq).where(AuditEvent.tenant_id == uuid.UUID(world.a.keys.id))
        return max(session.scalars(query))


async def _verify(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    answer = await client.get("/v1/audit/verify", headers=auth(world.a.keys.admin))
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _tenant_events(session: Any, world: World, since: int = 0) -> list[AuditEvent]:
    query = select(AuditEvent).where(
        AuditEvent.tenant_id == uuid.UUID(world.a.keys.id), AuditEvent.seq >= since
    )
    return list(session.scalars(query.order_by(AuditEvent.seq)))


async def test_a_clean_chain_verifies_against_its_checkpoints(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    head = await _events(client, services, world, 3)
    result = await _verify(client, world)
    assert (result["ok"], result["anchored_seq"]) == (True, head)
    assert result["checkpoints"] >= 3


async def test_an_edited_event_is_reported_at_its_seq(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    head = await _events(client, services, world, 4)
    with services.sessions.begin() as session:
        (event,) = _tenant_events(session, world, head - 2)[:1]
        event.details = {"forged": True}
    result = await _verify(client, world)
    assert (result["ok"], result["first_broken_seq"]) == (False, head - 2)


async def test_a_chain_rehashed_from_the_middle_is_reported_where_it_was_rewritten(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    head = await _events(client, services, world, 6)
    start = head - 3
    with services.sessions.begin() as session:
        events = _tenant_events(session, world)
        prev = next(e.hash for e in events if e.seq == start - 1)
        for event in (e for e in events if e.seq >= start):
            event.details, event.prev_hash = {"rewritten": True}, prev
            event.hash = audit.event_hash(event)
            prev = event.hash
    with services.sessions() as session:
        assert audit.verify(session, TenantId(uuid.UUID(world.a.keys.id))).ok  # consistent
    result = await _verify(client, world)
    assert (result["ok"], result["first_broken_seq"]) == (False, start)
    assert "rewritten" in result["reason"]


async def test_a_cut_tail_is_reported_at_the_first_missing_seq(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    head = await _events(client, services, world, 6)
    with services.sessions.begin() as session:
        session.execute(
            delete(AuditEvent).where(
                AuditEvent.tenant_id == uuid.UUID(world.a.keys.id), AuditEvent.seq > head - 5
            )
        )
    result = await _verify(client, world)
    assert (result["ok"], result["first_broken_seq"]) == (False, head - 4)


async def test_a_wiped_chain_is_reported_from_seq_one(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    await _events(client, services, world, 2)
    with services.sessions.begin() as session:
        session.execute(
            delete(AuditEvent).where(AuditEvent.tenant_id == uuid.UUID(world.a.keys.id))
        )
    result = await _verify(client, world)
    assert (result["ok"], result["first_broken_seq"]) == (False, 1)


async def test_a_checkpoint_line_taken_out_is_reported(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    head = await _events(client, services, world, 4)
    path = services.anchors.folder / f"{world.a.keys.id}.jsonl"
    lines = path.read_text().splitlines()
    gone = next(i for i, line in enumerate(lines) if f'"seq": {head - 1}' in line)
    path.write_text("\n".join(lines[:gone] + lines[gone + 1 :]) + "\n")
    result = await _verify(client, world)
    assert (result["ok"], result["first_broken_seq"]) == (False, head - 1)
    assert "missing" in result["reason"]


async def test_checkpoints_signed_before_a_rotation_still_verify(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    await _events(client, services, world, 2)
    rotated = signing.rotate(services.settings.signing_path)
    services.signing = rotated
    services.anchorer._ring = rotated
    head = await _events(client, services, world, 2)
    result = await _verify(client, world)
    assert (result["ok"], result["anchored_seq"]) == (True, head)
    kids = {
        point.jws.split(".")[0]
        for point in services.anchors.read(anchors.chain_name(world.a.keys.id))
    }
    assert len(kids) == 2  # two signing keys over the chain's life


async def test_anchoring_only_reads_the_database(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    await client.get("/v1/documents", headers=auth(world.a.keys.admin))
    begun: list[bool] = []

    def note(connection: Connection) -> None:
        begun.append(bool(connection.get_execution_options().get(sqlite.READ_ONLY)))

    event.listen(services.engine, "begin", note)
    try:
        assert services.anchorer.anchor_now() >= 1
    finally:
        event.remove(services.engine, "begin", note)
    assert begun == [True]  # SQLite: the searches' writes never queue behind it
