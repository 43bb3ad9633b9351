"""Following a job: `GET /v1/jobs/{id}?wait=S` long-polls, `/events` streams its changes."""

import asyncio
import json
import time
import uuid

import httpx

from api.services import Services
from tests.api.conftest import World
from tests.factories import auth, fixture_file, make_tenant, upload


async def _queued_job(client: httpx.AsyncClient, key: str) -> str:
    response = await upload(client, key, [fixture_file("acme", "handbook.md")])
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def test_a_long_poll_answers_as_soon_as_the_job_settles(
    client: httpx.AsyncClient, services: Services
) -> None:
    keys = await make_tenant(client, "Waiting Co")
    job_id = await _queued_job(client, keys.admin)

    async def index_soon() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(services.worker.drain)

    started = time.monotonic()
    worker = asyncio.create_task(index_soon())
    answer = await client.get(f"/v1/jobs/{job_id}?wait=30", headers=auth(keys.admin))
    await worker
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "done"
    assert answer.json()["progress"] == {"total": 1, "done": 1, "failed": 0}
    assert time.monotonic() - started < 10


async def test_a_long_poll_gives_up_after_wait_seconds(client: httpx.AsyncClient) -> None:
    keys = await make_tenant(client, "Patient Co")
    job_id = await _queued_job(client, keys.admin)
    started = time.monotonic()
    answer = await client.get(f"/v1/jobs/{job_id}?wait=0.6", headers=auth(keys.admin))
    assert answer.json()["status"] == "queued"
    assert 0.6 <= time.monotonic() - started < 5


async def test_wait_is_bounded_and_another_tenants_job_is_missing(
    client: httpx.AsyncClient, world: World
) -> None:
    own = auth(world.a.keys.admin)
    too_long = await client.get(f"/v1/jobs/{world.a.job_id}?wait=61", headers=own)
    assert too_long.status_code == 422
    assert too_long.json()["error"]["code"] == "invalid_request"
    missing = await client.get(f"/v1/jobs/{uuid.uuid4()}?wait=1", headers=own)
    foreign = await client.get(f"/v1/jobs/{world.b.job_id}?wait=1", headers=own)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    events = await client.get(f"/v1/jobs/{world.b.job_id}/events", headers=own)
    assert events.status_code == 404
    assert events.content == missing.content


async def test_events_stream_progress_then_done(
    client: httpx.AsyncClient, services: Services
) -> None:
    keys = await make_tenant(client, "Streaming Co")
    job_id = await _queued_job(client, keys.admin)

    async def index_soon() -> None:
        await asyncio.sleep(0.8)
        await asyncio.to_thread(services.worker.drain)

    worker = asyncio.create_task(index_soon())
    answer = await client.get(f"/v1/jobs/{job_id}/events", headers=auth(keys.admin))
    await worker
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = [_event(block) for block in answer.text.strip().split("\n\n")]
    assert next(name for name, _ in events) == "progress"
    assert events[0][1]["status"] == "queued"
    assert events[-1][0] == "done"
    assert events[-1][1]["status"] == "done"
    assert all(name == "progress" for name, _ in events[:-1])


def _event(block: str) -> tuple[str, dict[str, object]]:
    fields = dict(line.split(": ", 1) for line in block.splitlines())
    return fields["event"], json.loads(fields["data"])


async def test_a_stream_ends_with_an_error_event_when_its_key_is_revoked(
    client: httpx.AsyncClient,
) -> None:
    keys = await make_tenant(client, "Revoked Stream Co")
    job_id = await _queued_job(client, keys.admin)  # never indexed: the stream stays open
    body = {"role": "admin", "name": "watcher"}
    watcher = (await client.post("/v1/keys", json=body, headers=auth(keys.admin))).json()

    async def revoke_soon() -> None:
        await asyncio.sleep(0.8)
        revoked = await client.delete(f"/v1/keys/{watcher['id']}", headers=auth(keys.admin))
        assert revoked.status_code == 200

    revoker = asyncio.create_task(revoke_soon())
    answer = await client.get(f"/v1/jobs/{job_id}/events", headers=auth(watcher["key"]))
    await revoker
    events = [_event(block) for block in answer.text.strip().split("\n\n")]
    assert events[0][0] == "progress"
    assert events[-1] == (
        "error",
        {"error": {"code": "unauthenticated", "message": "invalid, revoked or expired API key"}},
    )


async def test_the_job_list_shows_only_the_callers_jobs_newest_first(
    client: httpx.AsyncClient, world: World
) -> None:
    own = auth(world.a.keys.admin)
    second = await _queued_job(client, world.a.keys.admin)
    listed = await client.get("/v1/jobs", headers=own)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [job["id"] for job in body["jobs"]] == [second, world.a.job_id]
    assert body["next_offset"] is None
    assert body["jobs"][1]["status"] == "done"
    assert body["jobs"][1]["documents"][0]["filename"] == "handbook.md"
    assert world.b.job_id not in listed.text
    first_page = (await client.get("/v1/jobs?limit=1", headers=own)).json()
    assert [job["id"] for job in first_page["jobs"]] == [second]
    assert first_page["next_offset"] == 1
    rest = (await client.get("/v1/jobs?limit=1&offset=1", headers=own)).json()
    assert [job["id"] for job in rest["jobs"]] == [world.a.job_id]


async def test_the_job_list_is_for_admins(client: httpx.AsyncClient, world: World) -> None:
    answer = await client.get("/v1/jobs", headers=auth(world.a.keys.reader))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
