"""Syncing a source: the server compares a manifest with what it holds, and keeps a record.

A run starts from the client's manifest. The plan gives each path one action: unchanged
(same bytes), added, updated (new bytes: version n+1, searches switch when it is indexed),
renamed (its bytes were at a path that left the source: the document moves, nothing is
embedded again), erased (its path left the source) or kept (the run does not prune). The
client uploads the files the plan needs; only when every one was accepted does the commit
apply renames and erasures, so an interrupted sync never erases what it has not replaced.
Starting again with the same manifest resumes the open run; another manifest, while a run
is open and active, is refused (409).
"""

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from ingest import erasure, permissions, runs
from ingest.blobs import BlobStore
from ingest.errors import IngestError, SyncConflict
from ingest.manifest import Entry, Manifest, normal_path
from ingest.models import RunStatus, SyncAction, SyncEntry, SyncRun, SyncState
from ingest.upload import IncomingFile, UploadOptions, check_room, checked_type
from retrieval import documents, sources
from retrieval.index import VectorIndex
from retrieval.models import Document, Source
from tenancy.db import utcnow
from tenancy.scope import Scope

NEEDS_BYTES = frozenset({SyncAction.ADD, SyncAction.UPDATE})


@dataclass(frozen=True)
class RunOptions:
    """How a run treats paths that left the source, and when an open run counts as stale."""

    prune: bool = True
    dry_run: bool = False
    idle: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class Step:
    """One path's action: its manifest entry (none for a path that left) and its document."""

    path: str
    action: SyncAction
    entry: Entry | None = None
    document: Document | None = None
    renamed_from: str | None = None


@dataclass(frozen=True)
class Started:
    """A run as started (None for a dry run) and its plan."""

    run: SyncRun | None
    steps: list[Step]
    resumed: bool = False


def plan(current: dict[str, Document], manifest: Manifest, *, prune: bool) -> list[Step]:
    """Each path's action; `current` holds the newest version of each path of the source."""
    wanted = manifest.by_path()
    gone = {path: doc for path, doc in current.items() if path not in wanted}
    moved: dict[str, list[str]] = {}
    for path, doc in sorted(gone.items()):
        moved.setdefault(doc.sha256, []).append(path)
    steps = [_step(entry, current.get(entry.path), gone, moved) for entry in manifest.entries]
    leaving = SyncAction.ERASE if prune else SyncAction.KEEP
    return steps + [Step(path, leaving, None, doc) for path, doc in sorted(gone.items())]


def _step(
    entry: Entry, doc: Document | None, gone: dict[str, Document], moved: dict[str, list[str]]
) -> Step:
    if doc is not None:
        same = doc.sha256 == entry.sha256
        return Step(entry.path, SyncAction.UNCHANGED if same else SyncAction.UPDATE, entry, doc)
    if moved.get(entry.sha256):
        old = moved[entry.sha256].pop(0)
        return Step(entry.path, SyncAction.RENAME, entry, gone.pop(old), old)
    return Step(entry.path, SyncAction.ADD, entry)


def start(
    scope: Scope, name: str, manifest: Manifest, options: RunOptions, *, key_id: uuid.UUID | None
) -> Started:
    """Plan a sync of the source `name` (made on its first sync) and, unless a dry run,
    record it as an open run; the same manifest again resumes the open run."""
    if options.dry_run:
        found = sources.find(scope, sources.check_name(name))
        current = sources.current(scope, found.id) if found else {}
        return Started(None, plan(current, manifest, prune=options.prune))
    source = sources.get_or_create(scope, name)
    scope.locked(type(source), source.id)  # one run of a source at a time
    open_run = runs.open_run(scope, source.id)
    if open_run is not None:
        if (open_run.manifest_sha256, open_run.prune) == (manifest.sha256, options.prune):
            return Started(open_run, [], resumed=True)
        _give_way(open_run, options.idle)
    steps = plan(sources.current(scope, source.id), manifest, prune=options.prune)
    return Started(_record(scope, source.id, manifest, steps, options, key_id), steps)


def _give_way(run: SyncRun, idle: timedelta) -> None:
    """An open run blocks another manifest, unless nothing happened to it for `idle`."""
    if run.updated_at > utcnow() - idle:
        raise SyncConflict(
            f"another sync of this source is under way (run {run.id}); it is abandoned after "
            f"{int(idle.total_seconds())} s without activity, or finish it with its manifest"
        )
    run.status = RunStatus.ABANDONED


def _record(
    scope: Scope,
    source_id: uuid.UUID,
    manifest: Manifest,
    steps: list[Step],
    options: RunOptions,
    key_id: uuid.UUID | None,
) -> SyncRun:
    run = scope.add(
        SyncRun(
            id=uuid.uuid4(),
            source_id=source_id,
            key_id=key_id,
            manifest_sha256=manifest.sha256,
            prune=options.prune,
            files=len(manifest.entries),
        )
    )
    scope.flush()
    scope.insert_rows(SyncEntry, [_entry_row(run.id, step) for step in steps])
    return run


def _entry_row(run_id: uuid.UUID, step: Step) -> dict[str, Any]:
    if step.action in NEEDS_BYTES:
        state = SyncState.NEEDED
    elif step.action in (SyncAction.RENAME, SyncAction.ERASE):
        state = SyncState.PENDING
    else:
        state = SyncState.DONE
    return {
        "id": uuid.uuid4(),
        "run_id": run_id,
        "path": step.path,
        "sha256": step.entry.sha256 if step.entry else None,
        "size": step.entry.size if step.entry else None,
        "action": step.action,
        "state": state,
        "document_id": step.document.id if step.document else None,
        "renamed_from": step.renamed_from,
    }


def receive(
    scope: Scope,
    blobs: BlobStore,
    run: SyncRun,
    files: Sequence[IncomingFile],
    options: UploadOptions,
) -> list[SyncEntry]:
    """Take files the open run needs: each becomes a new version of its path, or its entry
    fails with a reason (changed since the manifest, a type we do not index). Quotas and
    back-pressure refuse the request whole, before anything is stored."""
    runs.require_open(run)
    paths = [normal_path(f.path or f.filename) for f in files]
    wanted = runs.entries_for(scope, run, paths)
    fresh = [(f, wanted[path]) for f, path in zip(files, paths, strict=True)]
    fresh = [(f, e) for f, e in fresh if e.state == SyncState.NEEDED]
    check_room(scope, options, [len(f.data) for f, _ in fresh])
    for file, entry in fresh:
        _take(scope, blobs, run, file, entry, options)
    run.updated_at = utcnow()
    scope.flush()
    return [wanted[path] for path in paths]


def _take(
    scope: Scope,
    blobs: BlobStore,
    run: SyncRun,
    file: IncomingFile,
    entry: SyncEntry,
    options: UploadOptions,
) -> None:
    try:
        media_type = _matching(file, entry, options)
    except IngestError as exc:
        entry.state, entry.error = SyncState.FAILED, str(exc)
        return
    blobs.put(scope.tenant_id, file.data)
    source = scope.get(Source, run.source_id, kind="source")
    new = documents.NewDocument(
        filename=entry.path.rsplit("/", 1)[-1],
        media_type=media_type,
        sha256=entry.sha256 or "",
        size_bytes=len(file.data),
        path=entry.path,
        source_id=run.source_id,
        access=permissions.source_access(source),
        access_set=True,
    )
    entry.document_id = documents.create(scope, new).id
    entry.state, entry.error = SyncState.UPLOADED, None


def _matching(file: IncomingFile, entry: SyncEntry, options: UploadOptions) -> str:
    """The file's media type, once its bytes are the ones the manifest announced."""
    if runs.digest(file.data) != entry.sha256 or len(file.data) != entry.size:
        raise SyncConflict("the file changed after the manifest was made: sync again")
    return checked_type(file, options, archives=False)


def commit(
    scope: Scope, index: VectorIndex, blobs: BlobStore, run: SyncRun, *, intent: erasure.Commit
) -> SyncRun:
    """Once every needed file was accepted: move renamed paths, erase the paths that left
    (all marked `erasing` first, in the committed `intent`)."""
    runs.require_open(run)
    waiting = runs.count(scope, run, SyncState.NEEDED)
    if waiting:
        raise SyncConflict(f"{waiting} file(s) of this run are still to be uploaded")
    pending = runs.pending(scope, run)
    leaving = {
        entry.path: sources.versions(scope, run.source_id, entry.path)
        for entry in pending
        if not (entry.action == SyncAction.RENAME and entry.renamed_from is not None)
    }
    redacted = erasure.mark(scope, [doc for docs in leaving.values() for doc in docs])
    intent()
    for entry in pending:
        if entry.path in leaving:
            erased = [
                erasure.finish(scope, index, blobs, doc, redacted[doc.id])
                for doc in leaving[entry.path]
            ]
            entry.receipt = asdict(erasure.combined(erased))
        else:
            sources.rename(scope, run.source_id, entry.renamed_from or "", entry.path)
        entry.state = SyncState.DONE
    run.status, run.committed_at = RunStatus.COMMITTED, utcnow()
    run.updated_at = run.committed_at
    scope.flush()
    return run


def delete_source(
    scope: Scope, index: VectorIndex, blobs: BlobStore, name: str, *, intent: erasure.Commit
) -> erasure.Receipt:
    """Erase every document of a source (all versions), its runs and the source itself."""
    source = sources.get(scope, name)
    docs = sources.all_documents(scope, source.id)
    receipt = erasure.delete_documents(scope, index, blobs, docs, intent=intent)
    runs.delete_all(scope, source.id)
    sources.delete(scope, source)
    return receipt
