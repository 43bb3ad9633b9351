"""Sources over HTTP: the manifest protocol, the run record, bad input, and two tenants."""

import hashlib
import json
from typing import Any

import httpx
import pytest

from api.services import Services
from tests.api.conftest import World
from tests.factories import auth, search, upload

FILES = {
    "guide/leave.md": b"# Leave\n\nParental leave lasts sixteen weeks.",
    "guide/travel.txt": b"Book travel two weeks ahead of the trip.",
}


def _manifest(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [
        {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for p, d in files.items()
    ]


async def _start(
    client: httpx.AsyncClient, key: str, files: dict[str, bytes], **extra: Any
) -> httpx.Response:
    body = {"manifest": _manifest(files), **extra}
    return await client.post("/v1/sources/handbook/runs", json=body, headers=auth(key))


async def _sync(
    client: httpx.AsyncClient, services: Services, key: str, files: dict[str, bytes]
) -> dict[str, Any]:
    started = await _start(client, key, files)
    assert started.status_code == 200, started.text
    run = started.json()
    if run["needed"]:
        parts = [("files", (p, files[p], "application/octet-stream")) for p in run["needed"]]
        sent = await client.post(
            f"/v1/sources/handbook/runs/{run['id']}/files", files=parts, headers=auth(key)
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["needed"] == 0
    committed = await client.post(
        f"/v1/sources/handbook/runs/{run['id']}/commit", headers=auth(key)
    )
    assert committed.status_code == 200, committed.text
    services.worker.drain()
    final = await client.get(f"/v1/sources/handbook/runs/{run['id']}", headers=auth(key))
    data: dict[str, Any] = final.json()
    return data


async def test_a_sync_over_http_mirrors_the_folder_and_records_the_run(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    admin, reader = world.a.keys.admin, world.a.keys.reader
    first = await _sync(client, services, admin, FILES)
    assert first["phase"] == "done"
    assert (first["counts"]["add"], first["counts"]["indexed"]) == (2, 2)
    edited = {"guide/leave.md": b"# Leave\n\nParental leave lasts twenty weeks."}
    second = await _sync(client, services, admin, edited)
    actions = {e["path"]: e["action"] for e in second["entries"]}
    assert actions == {"guide/leave.md": "update", "guide/travel.txt": "erase"}
    (erased,) = [e for e in second["entries"] if e["action"] == "erase"]
    assert erased["receipt"]["documents"] == 1
    hits = (await search(client, reader, "parental leave weeks travel", top_k=10)).json()
    texts = [h["text"] for h in hits["results"]]
    assert any("twenty weeks" in t for t in texts)
    assert not any("sixteen weeks" in t or "Book travel" in t for t in texts)
    listed = (await client.get("/v1/sources", headers=auth(admin))).json()["sources"]
    assert [(s["name"], s["documents"]) for s in listed] == [("handbook", {"ready": 1})]
    assert listed[0]["last_run"]["id"] == second["id"]


async def test_the_same_sync_twice_uploads_nothing_the_second_time(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    await _sync(client, services, world.a.keys.admin, FILES)
    again = await _start(client, world.a.keys.admin, FILES)
    assert again.json()["needed"] == []
    assert again.json()["counts"]["unchanged"] == 2


async def test_a_dry_run_answers_the_plan_and_records_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    planned = await _start(client, world.a.keys.admin, FILES, dry_run=True)
    assert planned.status_code == 200, planned.text
    assert (planned.json()["id"], planned.json()["phase"]) == (None, "plan")
    assert sorted(planned.json()["needed"]) == sorted(FILES)
    missing = await client.get("/v1/sources/handbook", headers=auth(world.a.keys.admin))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        ([{"path": "a.txt", "sha256": "0" * 64, "size": 1}] * 2, "listed twice"),
        ([{"path": "../a.txt", "sha256": "0" * 64, "size": 1}], "'..'"),
        ([{"path": "/a.txt", "sha256": "0" * 64, "size": 1}], "relative"),
        ([{"path": "a\u0000.txt", "sha256": "0" * 64, "size": 1}], "control"),
        ([{"path": "a.txt", "sha256": "z" * 64, "size": 1}], "hex"),
        ([{"path": "a.txt", "sha256": "0" * 64, "size": -1}], "size"),
    ],
)
async def test_a_bad_manifest_is_a_422_naming_the_entry_and_changes_nothing(
    client: httpx.AsyncClient, world: World, manifest: list[dict[str, Any]], fragment: str
) -> None:
    body = {"manifest": manifest}
    refused = await client.post(
        "/v1/sources/handbook/runs", json=body, headers=auth(world.a.keys.admin)
    )
    assert refused.status_code == 422, refused.text
    assert fragment in refused.json()["error"]["message"]
    listed = await client.get("/v1/sources", headers=auth(world.a.keys.admin))
    assert listed.json()["sources"] == []


async def test_a_bad_source_name_is_a_422(client: httpx.AsyncClient, world: World) -> None:
    body = {"manifest": _manifest(FILES)}
    refused = await client.post(
        "/v1/sources/-oops/runs", json=body, headers=auth(world.a.keys.admin)
    )
    assert refused.status_code == 422


async def test_a_file_the_run_did_not_ask_for_is_a_422(
    client: httpx.AsyncClient, world: World
) -> None:
    run = (await _start(client, world.a.keys.admin, FILES)).json()
    parts = [("files", ("elsewhere.txt", b"not in the manifest", "text/plain"))]
    refused = await client.post(
        f"/v1/sources/handbook/runs/{run['id']}/files",
        files=parts,
        headers=auth(world.a.keys.admin),
    )
    assert refused.status_code == 422
    assert "elsewhere.txt" in refused.json()["error"]["message"]


async def test_the_commit_is_a_409_while_files_are_missing_and_a_second_manifest_waits(
    client: httpx.AsyncClient, world: World
) -> None:
    run = (await _start(client, world.a.keys.admin, FILES)).json()
    early = await client.post(
        f"/v1/sources/handbook/runs/{run['id']}/commit", headers=auth(world.a.keys.admin)
    )
    assert early.status_code == 409
    other = await _start(client, world.a.keys.admin, {"x.txt": b"other"})
    assert other.status_code == 409
    same = await _start(client, world.a.keys.admin, FILES)
    assert (same.json()["id"], same.json()["resumed"]) == (run["id"], True)


async def test_another_tenants_source_and_run_answer_like_missing_ones(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    run = await _sync(client, services, world.a.keys.admin, FILES)
    b = auth(world.b.keys.admin)
    missing_run = "00000000-0000-4000-8000-000000000000"
    for path in (
        "/v1/sources/handbook",
        f"/v1/sources/handbook/runs/{run['id']}",
        "/v1/sources/handbook/runs",
    ):
        theirs = await client.get(path, headers=b)
        absent = await client.get(path.replace(run["id"], missing_run), headers=b)
        assert theirs.status_code == 404, path
        assert theirs.content == absent.content
    commit = await client.post(f"/v1/sources/handbook/runs/{run['id']}/commit", headers=b)
    assert commit.status_code == 404
    erase = await client.delete("/v1/sources/handbook", headers=b)
    assert erase.status_code == 404
    assert (await client.get("/v1/sources/handbook", headers=auth(world.a.keys.admin))).is_success


async def test_readers_cannot_sync(client: httpx.AsyncClient, world: World) -> None:
    refused = await _start(client, world.a.keys.reader, FILES)
    assert refused.status_code == 403
    listed = await client.get("/v1/sources", headers=auth(world.a.keys.reader))
    assert listed.status_code == 403


async def test_deleting_a_source_erases_its_documents_with_a_receipt(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    await _sync(client, services, world.a.keys.admin, FILES)
    erased = await client.delete("/v1/sources/handbook", headers=auth(world.a.keys.admin))
    assert erased.status_code == 200, erased.text
    assert (erased.json()["documents"], erased.json()["vectors"]) == (2, 2)
    gone = await client.get("/v1/sources/handbook", headers=auth(world.a.keys.admin))
    assert gone.status_code == 404
    hits = (await search(client, world.a.keys.reader, "parental leave travel")).json()
    assert not any("Book travel" in h["text"] for h in hits["results"])


async def test_a_multi_file_upload_may_name_each_files_path_and_external_id(
    client: httpx.AsyncClient, services: Services, world: World
) -> None:
    files = [("a.txt", b"First memo, version one."), ("b.txt", b"Second memo, version one.")]
    metadata = {
        "files": [{"external_id": "memo-a", "path": "memos/a.txt"}, {"external_id": "memo-b"}]
    }
    first = await upload(client, world.a.keys.admin, files, metadata)
    assert first.status_code == 202, first.text
    again = [("a.txt", b"First memo, version two."), ("b.txt", b"Second memo, version one!")]
    second = await upload(client, world.a.keys.admin, again, metadata)
    assert second.status_code == 202, second.text
    services.worker.drain()
    listed = await client.get("/v1/documents?status=ready", headers=auth(world.a.keys.admin))
    mine = {(d["external_id"], d["version"], d["path"]) for d in listed.json()["documents"]}
    assert {("memo-a", 2, "memos/a.txt"), ("memo-b", 2, None)} <= mine
    wrong = await upload(client, world.a.keys.admin, files, {"files": [{"external_id": "x"}]})
    assert wrong.status_code == 422
    assert json.loads(wrong.text)["error"]["code"] == "invalid_upload"
