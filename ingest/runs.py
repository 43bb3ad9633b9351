"""The record of sync runs: finding, reading and summarising them for the tenant admin."""

import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.errors import InvalidUpload, SyncConflict
from ingest.models import RunStatus, SyncAction, SyncEntry, SyncRun, SyncState
from retrieval import documents, sources
from retrieval.models import Document, DocumentStatus
from tenancy.errors import NotFound
from tenancy.scope import Scope


@dataclass(frozen=True)
class RunView:
    """A run with its phase, its counts, and a page of its entries."""

    run: SyncRun
    source: str
    phase: str
    counts: dict[str, int]
    entries: list[SyncEntry]
    documents: dict[uuid.UUID, Document]


def digest(data: bytes) -> str:
    """The SHA-256 a manifest announces for these bytes."""
    return hashlib.sha256(data).hexdigest()


def open_run(scope: Scope, source_id: uuid.UUID) -> SyncRun | None:
    """The source's open run, if it has one."""
    query = scope.select(SyncRun).where(
        SyncRun.source_id == source_id, SyncRun.status == RunStatus.OPEN
    )
    found: SyncRun | None = scope.first(query.order_by(SyncRun.created_at.desc()))
    return found


def get(scope: Scope, name: str, run_id: uuid.UUID) -> SyncRun:
    """A run of the tenant's source `name`, or NotFound (also for another source's run)."""
    source = sources.get(scope, name)
    run = scope.find(SyncRun, run_id)
    if run is None or run.source_id != source.id:
        raise NotFound("run")
    return run


def require_open(run: SyncRun) -> None:
    """Uploads and the commit need the run still open."""
    if run.status != RunStatus.OPEN:
        raise SyncConflict(f"the run is {run.status.value}: start a new sync")


def entries_for(scope: Scope, run: SyncRun, paths: Sequence[str]) -> dict[str, SyncEntry]:
    """The run's entries for these uploaded paths; a path the run does not need is refused."""
    query = scope.select(SyncEntry).where(SyncEntry.run_id == run.id, SyncEntry.path.in_(paths))
    found = {entry.path: entry for entry in scope.all(query)}
    for path in paths:
        entry = found.get(path)
        if entry is None or entry.action not in (SyncAction.ADD, SyncAction.UPDATE):
            raise InvalidUpload(f"{path!r} is not a file this run asked for")
    if len(set(paths)) != len(paths):
        raise InvalidUpload("the upload names one path twice")
    return found


def count(scope: Scope, run: SyncRun, state: SyncState) -> int:
    """How many of the run's entries are in `state`."""
    return scope.count(SyncEntry, SyncEntry.run_id == run.id, SyncEntry.state == state)


def pending(scope: Scope, run: SyncRun) -> list[SyncEntry]:
    """The renames and erasures the commit applies."""
    query = scope.select(SyncEntry).where(
        SyncEntry.run_id == run.id, SyncEntry.state == SyncState.PENDING
    )
    return scope.all(query.order_by(SyncEntry.path))


def needed(scope: Scope, run: SyncRun) -> list[str]:
    """The paths whose bytes the open run still waits for."""
    query = scope.select(SyncEntry, SyncEntry.path).where(
        SyncEntry.run_id == run.id, SyncEntry.state == SyncState.NEEDED
    )
    return scope.all(query.order_by(SyncEntry.path))


def delete_all(scope: Scope, source_id: uuid.UUID) -> None:
    """Remove every run of a source, with its entries."""
    run_ids = scope.select(SyncRun, SyncRun.id).where(SyncRun.source_id == source_id)
    scope.delete(SyncEntry, SyncEntry.run_id.in_(run_ids))
    scope.delete(SyncRun, SyncRun.source_id == source_id)


def list_runs(scope: Scope, name: str, *, limit: int, offset: int) -> list[RunView]:
    """The source's runs, newest first, with their counts (no entries)."""
    source = sources.get(scope, name)
    query = scope.select(SyncRun).where(SyncRun.source_id == source.id)
    found = scope.all(query.order_by(SyncRun.created_at.desc()).limit(limit).offset(offset))
    return [_view(scope, source.name, run, entries_limit=0, offset=0) for run in found]


def view(scope: Scope, name: str, run_id: uuid.UUID, *, limit: int, offset: int) -> RunView:
    """One run, its counts and a page of its entries (changed paths first, then by path)."""
    return _view(scope, name, get(scope, name, run_id), entries_limit=limit, offset=offset)


def latest(scope: Scope, source_id: uuid.UUID, name: str) -> RunView | None:
    """The source's newest run, summarised."""
    query = scope.select(SyncRun).where(SyncRun.source_id == source_id)
    run = scope.first(query.order_by(SyncRun.created_at.desc()))
    return _view(scope, name, run, entries_limit=0, offset=0) if run else None


def _view(scope: Scope, name: str, run: SyncRun, *, entries_limit: int, offset: int) -> RunView:
    every = scope.all(scope.select(SyncEntry).where(SyncEntry.run_id == run.id))
    uploaded = [e.document_id for e in every if e.state == SyncState.UPLOADED and e.document_id]
    versions = documents.rows(scope, uploaded)
    counts = _counts(every, {doc_id: doc.status for doc_id, doc in versions.items()})
    page = sorted(every, key=lambda e: (e.action == SyncAction.UNCHANGED, e.path))
    shown = page[offset : offset + entries_limit]
    return RunView(run, name, _phase(run, counts), counts, shown, versions)


def _counts(every: list[SyncEntry], statuses: dict[uuid.UUID, DocumentStatus]) -> dict[str, int]:
    counts = Counter(entry.action.value for entry in every)
    outcome = Counter(_outcome(entry, statuses) for entry in every)
    return {
        "files": sum(1 for e in every if e.action not in (SyncAction.ERASE, SyncAction.KEEP)),
        **{action.value: counts.get(action.value, 0) for action in SyncAction},
        "needed": outcome["needed"],
        "indexing": outcome["indexing"],
        "indexed": outcome["indexed"],
        "failed": outcome["failed"],
    }


def _outcome(entry: SyncEntry, statuses: dict[uuid.UUID, DocumentStatus]) -> str:
    if entry.state == SyncState.FAILED:
        return "failed"
    if entry.state == SyncState.NEEDED:
        return "needed"
    if entry.state != SyncState.UPLOADED or entry.document_id is None:
        return "settled"
    status = statuses.get(entry.document_id)
    if status in (DocumentStatus.READY, DocumentStatus.SUPERSEDED):
        return "indexed"
    if status == DocumentStatus.FAILED:
        return "failed"
    # Erased since (a later run or a delete): it is not waiting for anything.
    return "settled" if status in (None, DocumentStatus.ERASING) else "indexing"


def _phase(run: SyncRun, counts: dict[str, int]) -> str:
    """open, indexing (committed, documents still being indexed), done or abandoned."""
    if run.status != RunStatus.COMMITTED:
        return run.status.value
    return "indexing" if counts["indexing"] else "done"
