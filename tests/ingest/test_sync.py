"""Syncing a source, called directly: plan, upload what is needed, commit, and the record."""

import hashlib
import threading
import unicodedata
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from api.services import Services
from ingest import manifest, runs, sync
from ingest.errors import InvalidManifest, SyncConflict
from ingest.models import RunStatus, SyncAction, SyncRun
from ingest.upload import IncomingFile, UploadOptions
from retrieval import search as searching
from retrieval import sources
from retrieval.models import Document, DocumentStatus
from tenancy.db import utcnow
from tenancy.errors import NotFound
from tenancy.ids import TenantId
from tenancy.scope import Scope

Files = dict[str, bytes]
DOCS: Files = {
    "handbook.md": b"# Handbook\n\nParental leave lasts sixteen weeks at Acme.",
    "policies/travel.txt": b"Travel must be booked two weeks ahead.",
    "policies/safety.txt": b"Hard hats are required on the factory floor.",
}


def _manifest(files: Files) -> manifest.Manifest:
    raw = [manifest.Entry(p, hashlib.sha256(d).hexdigest(), len(d)) for p, d in files.items()]
    return manifest.check(raw, max_entries=1000, max_bytes=10_000_000)


def _sync(
    services: Services,
    tenant: TenantId,
    files: Files,
    *,
    upload: bool = True,
    prune: bool = True,
    dry_run: bool = False,
) -> sync.Started:
    """One sync: start, upload every needed file, commit, index."""
    options = sync.RunOptions(prune=prune, dry_run=dry_run)
    with services.sessions() as session:  # the commit's intent commits mid-way, as a request's
        scope = Scope(session, tenant)
        started = sync.start(scope, "docs", _manifest(files), options, key_id=None)
        run = started.run
        if run is not None and upload:
            needed = runs.needed(scope, run)
            incoming = [IncomingFile(p.rsplit("/", 1)[-1], files[p], path=p) for p in needed]
            if incoming:
                sync.receive(scope, services.blobs, run, incoming, UploadOptions())
            sync.commit(scope, services.index, services.blobs, run, intent=session.commit)
        session.commit()
    if run is not None and upload:
        services.worker.drain()
    return started


def _current(services: Services, tenant: TenantId) -> dict[str, Document]:
    with services.sessions() as session:
        scope = Scope(session, tenant)
        return sources.current(scope, sources.get(scope, "docs").id)


def _texts(services: Services, tenant: TenantId, query: str) -> list[str]:
    with services.sessions() as session:
        found = searching.find(
            Scope(session, tenant), services.retriever, searching.SearchRequest(query, top_k=20)
        )
        return [hit.text for hit in found]


def _counts(services: Services, tenant: TenantId, run_id: uuid.UUID) -> dict[str, int]:
    with services.sessions() as session:
        return runs.view(Scope(session, tenant), "docs", run_id, limit=0, offset=0).counts


def test_a_first_sync_indexes_every_file_and_a_second_changes_nothing(
    services: Services, acme: TenantId
) -> None:
    first = _sync(services, acme, DOCS)
    assert first.run is not None
    counts = _counts(services, acme, first.run.id)
    assert (counts["add"], counts["indexed"], counts["failed"]) == (3, 3, 0)
    assert {p: d.status for p, d in _current(services, acme).items()} == dict.fromkeys(
        DOCS, DocumentStatus.READY
    )
    before = {p: (d.id, d.version) for p, d in _current(services, acme).items()}
    second = _sync(services, acme, DOCS)
    assert second.run is not None
    again = _counts(services, acme, second.run.id)
    assert (again["unchanged"], again["add"], again["update"], again["erase"]) == (3, 0, 0, 0)
    assert {p: (d.id, d.version) for p, d in _current(services, acme).items()} == before


def test_add_update_unchanged_rename_and_erase_in_one_run(
    services: Services, acme: TenantId
) -> None:
    _sync(services, acme, DOCS)
    old = _current(services, acme)
    edited = {
        "handbook.md": b"# Handbook\n\nParental leave lasts twenty weeks at Acme.",
        "policies/safety.txt": DOCS["policies/safety.txt"],
        "travel/booking.txt": DOCS["policies/travel.txt"],  # moved, same bytes
        "new.txt": b"Visitors sign in at the front desk.",
    }
    run = _sync(services, acme, edited).run
    assert run is not None
    counts = _counts(services, acme, run.id)
    assert {a: counts[a] for a in ("add", "update", "unchanged", "rename", "erase")} == {
        "add": 1,
        "update": 1,
        "unchanged": 1,
        "rename": 1,
        "erase": 0,
    }
    now = _current(services, acme)
    assert set(now) == set(edited)
    assert now["travel/booking.txt"].id == old["policies/travel.txt"].id  # not embedded again
    assert now["handbook.md"].version == 2
    texts = _texts(services, acme, "parental leave weeks")
    assert any("twenty weeks" in t for t in texts)
    assert not any("sixteen weeks" in t for t in texts)


def test_a_path_that_left_is_erased_with_a_receipt_and_nothing_of_it_remains(
    services: Services, acme: TenantId
) -> None:
    _sync(services, acme, DOCS)
    gone = _current(services, acme)["policies/safety.txt"]
    run = _sync(services, acme, {k: v for k, v in DOCS.items() if "safety" not in k}).run
    assert run is not None
    with services.sessions() as session:
        view = runs.view(Scope(session, acme), "docs", run.id, limit=100, offset=0)
    (erased,) = [e for e in view.entries if e.action == SyncAction.ERASE]
    assert erased.receipt is not None
    assert (erased.receipt["documents"], erased.receipt["vectors"]) == (1, 1)
    assert "policies/safety.txt" not in _current(services, acme)
    assert services.index.count(acme, gone.id) == 0
    assert not services.blobs.path(acme, gone.sha256).exists()
    assert not any("Hard hats" in t for t in _texts(services, acme, "hard hats factory floor"))


def test_without_prune_a_path_that_left_is_kept(services: Services, acme: TenantId) -> None:
    _sync(services, acme, DOCS)
    run = _sync(services, acme, {"handbook.md": DOCS["handbook.md"]}, prune=False).run
    assert run is not None
    assert _counts(services, acme, run.id)["keep"] == 2
    assert set(_current(services, acme)) == set(DOCS)


def test_an_interrupted_run_resumes_and_erases_nothing_before_its_commit(
    services: Services, acme: TenantId
) -> None:
    _sync(services, acme, DOCS)
    changed = {"handbook.md": b"Leave policy, edited.", "other.txt": b"A new file."}
    started = _sync(services, acme, changed, upload=False)  # the client died before uploading
    assert started.run is not None
    assert set(_current(services, acme)) == set(DOCS)  # nothing erased yet
    again = _sync(services, acme, changed)  # the same manifest: the same run, resumed
    assert again.resumed
    assert again.run is not None
    assert again.run.id == started.run.id
    assert set(_current(services, acme)) == set(changed)


def test_another_manifest_waits_for_the_open_run_until_it_goes_idle(
    services: Services, acme: TenantId
) -> None:
    started = _sync(services, acme, DOCS, upload=False)
    assert started.run is not None
    with pytest.raises(SyncConflict):
        _sync(services, acme, {"only.txt": b"Something else."}, upload=False)
    with services.sessions.begin() as session:
        session.execute(update(SyncRun).values(updated_at=utcnow() - timedelta(hours=1)))
    replaced = _sync(services, acme, {"only.txt": b"Something else."})
    assert replaced.run is not None
    with services.sessions() as session:
        old = Scope(session, acme).get(SyncRun, started.run.id, kind="run")
        assert old.status == RunStatus.ABANDONED
    assert set(_current(services, acme)) == {"only.txt"}


def test_a_file_that_fails_leaves_the_previous_version_searchable(
    services: Services, acme: TenantId
) -> None:
    _sync(services, acme, DOCS)
    broken = {**DOCS, "policies/travel.txt": b"   \n\n   "}  # no text: the new version fails
    run = _sync(services, acme, broken).run
    assert run is not None
    assert _counts(services, acme, run.id)["failed"] == 1
    with services.sessions() as session:
        scope = Scope(session, acme)
        versions = sources.versions(scope, sources.get(scope, "docs").id, "policies/travel.txt")
    assert [v.status for v in versions] == [DocumentStatus.READY, DocumentStatus.FAILED]
    assert any("two weeks ahead" in t for t in _texts(services, acme, "travel booked ahead"))


def test_a_file_whose_bytes_differ_from_the_manifest_fails_alone(
    services: Services, acme: TenantId
) -> None:
    with services.sessions.begin() as session:
        scope = Scope(session, acme)
        started = sync.start(scope, "docs", _manifest(DOCS), sync.RunOptions(), key_id=None)
        assert started.run is not None
        files = [IncomingFile("handbook.md", b"not what the manifest said", path="handbook.md")]
        (entry,) = sync.receive(scope, services.blobs, started.run, files, UploadOptions())
    assert entry.error is not None
    assert "changed after the manifest" in entry.error


def test_the_commit_waits_for_every_needed_file(services: Services, acme: TenantId) -> None:
    with services.sessions.begin() as session:
        scope = Scope(session, acme)
        started = sync.start(scope, "docs", _manifest(DOCS), sync.RunOptions(), key_id=None)
        assert started.run is not None
        with pytest.raises(SyncConflict):
            sync.commit(scope, services.index, services.blobs, started.run, intent=session.commit)


def test_another_tenants_source_and_runs_are_not_found(
    services: Services, acme: TenantId, globex: TenantId
) -> None:
    run = _sync(services, acme, DOCS).run
    assert run is not None
    with services.sessions() as session:
        theirs = Scope(session, globex)
        with pytest.raises(NotFound):
            sources.get(theirs, "docs")
        with pytest.raises(NotFound):
            runs.view(theirs, "docs", run.id, limit=10, offset=0)
    # Globex's own source of the same name is its own.
    _sync(services, globex, {"memo.txt": b"Globex memo."})
    assert set(_current(services, globex)) == {"memo.txt"}
    assert set(_current(services, acme)) == set(DOCS)


def test_a_dry_run_plans_and_records_nothing(services: Services, acme: TenantId) -> None:
    _sync(services, acme, DOCS)
    plan = _sync(services, acme, {"handbook.md": b"edited"}, dry_run=True)
    assert plan.run is None
    actions = {step.path: step.action for step in plan.steps}
    assert actions == {
        "handbook.md": SyncAction.UPDATE,
        "policies/safety.txt": SyncAction.ERASE,
        "policies/travel.txt": SyncAction.ERASE,
    }
    assert set(_current(services, acme)) == set(DOCS)


@pytest.mark.parametrize(
    ("paths", "fragment"),
    [
        (["a.txt", "a.txt"], "listed twice"),
        ([unicodedata.normalize("NFD", "café.txt"), "café.txt"], "listed twice"),
        (["../secret.txt"], "'..'"),
        (["/etc/passwd"], "relative"),
        (["a\x00b.txt"], "control characters"),
        (["x/" * 600 + "a.txt"], "longer than"),
        (["c:/windows.txt"], "relative"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_entry(paths: list[str], fragment: str) -> None:
    raw = [manifest.Entry(p, "0" * 64, 1) for p in paths]
    with pytest.raises(InvalidManifest) as caught:
        manifest.check(raw, max_entries=1000, max_bytes=100)
    assert "entry" in str(caught.value)
    assert fragment in str(caught.value)


def test_a_manifest_past_the_entry_cap_is_refused() -> None:
    raw = [manifest.Entry(f"{i}.txt", "0" * 64, 1) for i in range(11)]
    with pytest.raises(InvalidManifest, match="limit is 10"):
        manifest.check(raw, max_entries=10, max_bytes=100)


def test_two_syncs_of_one_source_at_once_never_interleave(
    services: Services, acme: TenantId
) -> None:
    _sync(services, acme, {"seed.txt": b"The source exists."})
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(files: Files) -> None:
        barrier.wait()
        try:
            _sync(services, acme, files, upload=False)
            outcomes.append("started")
        except SyncConflict:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=attempt, args=({f"{n}.txt": n.encode()},)) for n in ("a", "b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["conflict", "started"]
    with services.sessions() as session:
        scope = Scope(session, acme)
        open_runs = scope.count(SyncRun, SyncRun.status == RunStatus.OPEN)
    assert open_runs == 1
