"""Backups of the embedded default, taken from the live app and restored into a fresh data dir."""

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from api.ops import manifest as backup_manifest
from api.ops import restore
from api.ops.manifest import BackupUnsupported, InvalidBackup, RestoreRefused
from api.services import Services
from api.settings import Settings
from retrieval.models import Document
from tenancy import audit
from tenancy.ids import TenantId
from tests.api.conftest import World
from tests.factories import (
    OPERATOR,
    TenantKeys,
    auth,
    fixture_file,
    ingest,
    make_tenant,
    search,
    upload,
)
from tests.fakes import HashingEmbedder

CORPUS = ["handbook.md", "policy.txt", "faq.html", "report.pdf", "onboarding.docx"]
LATE = ["minutes.odt", "letter.rtf", "roadmap.pptx", "announcement.eml", "inventory.csv"]
QUERIES = ["How long is parental leave?", "handbook reference code", "security incident policy"]
MODES = ["hybrid", "dense", "sparse"]


@pytest.fixture
def embedded(database_url: str) -> None:
    """Backups cover SQLite + Qdrant Edge; the PostgreSQL deployment is refused (tested below)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("backup/restore is for the embedded default; PostgreSQL uses pg_dump")


async def _backup(client: httpx.AsyncClient, path: Path | str) -> httpx.Response:
    return await client.post("/v1/admin/backups", json={"path": str(path)}, headers=OPERATOR)


def _root(services: Services) -> Path:
    return services.settings.data_dir.resolve().parent / "backups"


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def _tenant_state(client: httpx.AsyncClient, keys: TenantKeys) -> dict[str, Any]:
    """Everything a tenant can read: documents, their text and bytes, and search answers."""
    reader = auth(keys.reader)
    listing = await client.get("/v1/documents", params={"limit": 200}, headers=reader)
    docs = listing.json()["documents"]
    texts, contents = {}, {}
    for doc in docs:
        base = f"/v1/documents/{doc['id']}"
        texts[doc["id"]] = (await client.get(f"{base}/text", headers=reader)).text
        body = (await client.get(f"{base}/content", headers=reader)).content
        contents[doc["id"]] = hashlib.sha256(body).hexdigest()
    searches = {}
    for query in QUERIES:
        for mode in MODES:
            found = await search(client, keys.reader, query, mode=mode, top_k=10)
            assert found.status_code == 200, found.text
            searches[f"{mode}:{query}"] = _canonical(found.json()["results"])
    return {"documents": docs, "texts": texts, "contents": contents, "searches": searches}


def _canonical(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hits in (score, id) order without ranks: the engine does not order equal scores
    (ties are common in rank fusion) the same way in every process."""
    hits = [{k: v for k, v in hit.items() if k != "rank"} for hit in hits]
    return sorted(hits, key=lambda h: (-h["score"], h["chunk_id"]))


async def _state(client: httpx.AsyncClient, tenants: list[TenantKeys]) -> list[dict[str, Any]]:
    return [await _tenant_state(client, keys) for keys in tenants]


@asynccontextmanager
async def _restored_app(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    application = create_app(settings, embedder=HashingEmbedder())
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://restored.test") as http:
            yield http, application.state.services


def _fresh(settings: Settings, data_dir: Path) -> Settings:
    return settings.model_copy(update={"data_dir": data_dir, "database_url": None})


async def _two_tenants(client: httpx.AsyncClient, services: Services) -> list[TenantKeys]:
    tenants = []
    for name, folder in (("Acme Robotics", "acme"), ("Globex Energy", "globex")):
        keys = await make_tenant(client, name)
        files = [fixture_file(folder, f) for f in CORPUS]
        job = await ingest(client, services, keys.admin, files, {"tags": [folder]})
        assert job["progress"]["failed"] == 0, job
        tenants.append(keys)
    return tenants


async def test_a_backup_taken_while_indexing_restores_to_identical_answers(
    embedded: None,
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    tmp_path: Path,
) -> None:
    tenants = await _two_tenants(client, services)
    late = await upload(client, tenants[1].admin, [fixture_file("globex", f) for f in LATE])
    assert late.status_code == 202
    # The worker indexes the late upload while the backup is taken.
    draining = asyncio.create_task(asyncio.to_thread(services.worker.drain))
    await _until_processing(services)
    backed_up = await _backup(client, tmp_path / "backups" / "nightly")
    await draining
    assert backed_up.status_code == 201, backed_up.text
    receipt = backed_up.json()
    assert receipt["counts"]["tenants"] == 2
    assert receipt["counts"]["documents"] == 2 * len(CORPUS) + len(LATE)
    # Work in flight at the snapshot is queued again in the copy.
    assert set(_statuses(Path(receipt["path"]))) <= {"ready", "queued"}
    assert receipt["counts"]["bytes"] < 20_000_000  # shard files are copied sparse
    services.worker.drain()
    original = await _state(client, tenants)

    fresh = _fresh(settings, tmp_path / "restored")
    done = restore.restore(fresh, Path(receipt["path"]))
    assert (done.counts.documents, done.replaced) == (receipt["counts"]["documents"], False)
    async with _restored_app(fresh) as (http, restored):
        restored.worker.drain()  # what was queued or in work at the snapshot resumes
        assert await _state(http, tenants) == original
        await _assert_intact(http, restored, tenants)
    assert _disk_usage(fresh.data_dir / "edge") < 20_000_000


def _disk_usage(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


async def _until_processing(services: Services) -> None:
    processing = select(func.count()).where(Document.status == "processing")
    for _ in range(1000):
        with services.sessions() as session:
            if session.scalar(processing):
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker never started on the late upload")


def _statuses(backup: Path) -> dict[str, int]:
    with closing(sqlite3.connect(backup / "enclave.db")) as db:
        return dict(db.execute("SELECT status, count(*) FROM documents GROUP BY status"))


async def _assert_intact(
    http: httpx.AsyncClient, services: Services, tenants: list[TenantKeys]
) -> None:
    """Audit chains verify, and the index holds exactly one point per chunk."""
    for keys in tenants:
        verified = await http.get("/v1/audit/verify", headers=auth(keys.admin))
        assert verified.json()["ok"] is True, verified.text
        docs = (await http.get("/v1/documents", headers=auth(keys.reader))).json()["documents"]
        assert {d["status"] for d in docs} == {"ready"}
        points = services.index.count(TenantId(uuid.UUID(keys.id)))
        assert points == sum(d["chunk_count"] for d in docs) > 0
    with services.sessions() as session:
        assert audit.verify(session, None).ok


async def test_the_backup_folder_holds_a_manifest_and_no_partial_copies(
    embedded: None, client: httpx.AsyncClient, services: Services, world: World, tmp_path: Path
) -> None:
    response = await _backup(client, tmp_path / "backups" / "b1")
    assert response.status_code == 201, response.text
    folder = tmp_path / "backups" / "b1"
    assert _listing(tmp_path / "backups") == ["b1"]
    assert _listing(folder) == [
        "anchors",
        "blobs",
        "edge",
        "enclave.db",
        "manifest.json",
        "signing",
    ]
    manifest = backup_manifest.read(folder)
    assert manifest["embedding"]["dimension"] == HashingEmbedder().dimension
    assert manifest["revision"] == response.json()["revision"] is not None
    assert manifest["counts"] == response.json()["counts"]
    assert manifest["counts"]["shards"] == manifest["counts"]["tenants"] == 2
    backup_manifest.verify(folder, manifest)
    # The operator learns where and how much, never tenant content.
    assert "handbook" not in response.text


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 403), ("reader", 403), ("none", 401), ("bad", 401)]
)
async def test_only_the_operator_can_back_up(
    embedded: None,
    client: httpx.AsyncClient,
    services: Services,
    world: World,
    tmp_path: Path,
    role: str,
    status: int,
) -> None:
    keys = {"admin": world.a.keys.admin, "reader": world.a.keys.reader, "bad": "ek_not-a-key"}
    headers = auth(keys[role]) if role in keys else {}
    body = {"path": str(tmp_path / "backups" / "stolen")}
    response = await client.post("/v1/admin/backups", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert _listing(_root(services)) == []


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("backups/relative", 422, "invalid_backup_path"),
        ("{tmp}/elsewhere", 422, "invalid_backup_path"),
        ("{tmp}/backups", 422, "invalid_backup_path"),
        ("{tmp}/backups/../escaped", 422, "invalid_backup_path"),
        ("{tmp}/backups/with\x00nul", 422, "invalid_request"),  # refused at the edge
        ("{tmp}/backups/file/below", 422, "invalid_backup_path"),
        ("{tmp}/backups/" + "x" * 300, 422, "invalid_backup_path"),
        ("{tmp}/backups/full", 409, "backup_exists"),
        ("{tmp}/backups/file", 409, "backup_exists"),
    ],
)
async def test_bad_targets_are_refused_and_nothing_is_written(
    embedded: None,
    client: httpx.AsyncClient,
    services: Services,
    tmp_path: Path,
    path: str,
    status: int,
    code: str,
) -> None:
    root = _root(services)
    (root / "full").mkdir(parents=True)
    (root / "full" / "keep.txt").write_text("mine")
    (root / "file").write_text("mine")
    before = _listing(tmp_path)
    response = await _backup(client, path.format(tmp=tmp_path))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert _listing(root) == ["file", "full"]
    assert _listing(root / "full") == ["keep.txt"]
    assert _listing(tmp_path) == before


async def test_a_target_inside_the_data_dir_is_refused(
    embedded: None, client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    services.settings.backup_dir = tmp_path
    response = await _backup(client, services.settings.data_dir.resolve() / "inside")
    assert response.status_code == 422
    assert "outside the data dir" in response.json()["error"]["message"]


async def test_an_empty_existing_folder_is_a_fine_target(
    embedded: None, client: httpx.AsyncClient, services: Services
) -> None:
    target = _root(services) / "prepared"
    target.mkdir(parents=True)
    response = await _backup(client, target)
    assert response.status_code == 201, response.text
    assert (target / "manifest.json").is_file()


async def test_other_deployments_are_refused(
    client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    # PostgreSQL runs with qdrant-client here; on SQLite, point the index elsewhere too.
    services.settings.qdrant_url = services.settings.qdrant_url or "http://qdrant.example:6333"
    response = await _backup(client, tmp_path / "backups" / "b")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "backup_unsupported"
    assert "pg_dump and Qdrant snapshots" in response.json()["error"]["message"]
    assert not (tmp_path / "backups").exists()


async def test_a_backup_waits_for_writes_in_flight_while_searches_go_on(
    embedded: None, client: httpx.AsyncClient, services: Services, world: World, tmp_path: Path
) -> None:
    with services.gate.writing():  # an index write step in flight
        backing_up = asyncio.create_task(_backup(client, tmp_path / "backups" / "b"))
        await asyncio.sleep(0.5)
        assert not backing_up.done()
    assert (await backing_up).status_code == 201


async def test_while_a_backup_runs_writes_wait_and_searches_answer(
    embedded: None, client: httpx.AsyncClient, services: Services, world: World
) -> None:
    queued = await upload(client, world.a.keys.admin, [fixture_file("acme", "policy.txt")])
    doc_id = queued.json()["documents"][0]["id"]
    with services.gate.paused():  # a backup holds the gate
        erasing = asyncio.create_task(
            client.delete(f"/v1/documents/{world.a.document_id}", headers=auth(world.a.keys.admin))
        )
        indexing = asyncio.create_task(asyncio.to_thread(services.worker.drain))
        await asyncio.sleep(0.5)
        found = await search(client, world.a.keys.reader, "handbook reference code")
        assert found.status_code == 200
        assert found.json()["results"][0]["citation"]["document_id"] == world.a.document_id
        assert not erasing.done()
        assert not indexing.done()
    assert (await erasing).status_code == 200
    await indexing
    doc = await client.get(f"/v1/documents/{doc_id}", headers=auth(world.a.keys.reader))
    assert doc.json()["status"] == "ready"


# Restore (offline)


@pytest.fixture
async def backup_path(
    embedded: None, client: httpx.AsyncClient, services: Services, world: World, tmp_path: Path
) -> Path:
    """A backup of the two-tenant world."""
    response = await _backup(client, tmp_path / "backups" / "b")
    assert response.status_code == 201, response.text
    return Path(response.json()["path"])


async def test_restore_refuses_a_data_dir_with_data_unless_forced(
    backup_path: Path, settings: Settings, tmp_path: Path
) -> None:
    target = _fresh(settings, tmp_path / "target")
    restore.restore(target, backup_path)
    with pytest.raises(RestoreRefused, match="--force"):
        restore.restore(target, backup_path)
    (target.data_dir / "blobs" / "stray").write_text("not from the backup")
    done = restore.restore(target, backup_path, force=True)
    assert done.replaced
    assert not (target.data_dir / "blobs" / "stray").exists()
    assert _listing(target.data_dir) == ["blobs", "edge", "enclave.db", "signing"]


def _damage(folder: Path, how: str) -> None:
    manifest = folder / "manifest.json"
    if how == "no manifest":
        manifest.unlink()
    elif how == "not json":
        manifest.write_text("{ half a manifest")
    elif how == "wrong format":
        manifest.write_text('{"format": "tarball", "version": 1}')
    elif how == "unknown revision":
        manifest.write_text(manifest.read_text().replace('"revision": "', '"revision": "9999_'))
    elif how == "damaged file":
        with (folder / "enclave.db").open("r+b") as handle:
            handle.seek(200)
            handle.write(b"\xff\xff\xff\xff")
    elif how == "extra file":
        (folder / "edge" / "planted").write_text("x")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("no manifest", "no manifest.json"),
        ("not json", "not valid JSON"),
        ("wrong format", "not an Enclave backup manifest"),
        ("unknown revision", "does not know"),
        ("damaged file", "enclave.db is damaged"),
        ("extra file", "not in its manifest"),
    ],
)
async def test_restore_refuses_a_damaged_backup_and_leaves_the_data_dir_alone(
    backup_path: Path, settings: Settings, tmp_path: Path, how: str, message: str
) -> None:
    _damage(backup_path, how)
    target = _fresh(settings, tmp_path / "target")
    with pytest.raises(InvalidBackup, match=message):
        restore.restore(target, backup_path)
    assert not target.data_dir.exists()


async def test_restore_refuses_a_backup_with_a_missing_file(
    backup_path: Path, settings: Settings, tmp_path: Path
) -> None:
    victim = next(p for p in (backup_path / "blobs").rglob("*") if p.is_file())
    victim.unlink()
    with pytest.raises(InvalidBackup, match="is missing from the backup"):
        restore.restore(_fresh(settings, tmp_path / "target"), backup_path)


async def test_restore_refuses_other_deployments(backup_path: Path, settings: Settings) -> None:
    postgres = settings.model_copy(update={"database_url": "postgresql+psycopg://u@h/db"})
    with pytest.raises(BackupUnsupported, match="pg_dump"):
        restore.restore(postgres, backup_path)


def test_a_fingerprint_ignores_sparseness_but_not_content(tmp_path: Path) -> None:
    sparse, dense = tmp_path / "sparse", tmp_path / "dense"
    with sparse.open("wb") as handle:
        handle.seek(3 << 20)
        handle.write(b"data")
    dense.write_bytes(sparse.read_bytes())
    assert dense.stat().st_blocks > sparse.stat().st_blocks
    assert backup_manifest.fingerprint(sparse) == backup_manifest.fingerprint(dense)
    dense.write_bytes(sparse.read_bytes()[:-1] + b"!")
    assert backup_manifest.fingerprint(sparse) != backup_manifest.fingerprint(dense)
