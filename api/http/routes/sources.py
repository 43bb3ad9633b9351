"""Source routes: document sets kept in sync with where they live, and the record of each sync."""

import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from api.http.deps import AdminCtx, IndexWrites, ServicesDep
from api.http.files import read_upload, upload_options
from api.schemas import MAX_INT, SourcePatch, domain_access
from enclave_client.models import (
    AccessOut,
    Receipt,
    SourceList,
    SourceOut,
    SyncEntryOut,
    SyncFilesOut,
    SyncRunIn,
    SyncRunOut,
)
from ingest import manifest, permissions, runs, sync
from ingest.models import SyncAction, SyncEntry
from ingest.runs import RunView
from retrieval import sources
from retrieval.models import Document

router = APIRouter(prefix="/v1/sources", tags=["sources"])

EntriesLimit = Annotated[int, Query(ge=0, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT)]


@router.get("", name="source.list")
def list_sources(ctx: AdminCtx) -> SourceList:
    """The tenant's sources, each with its paths by status and its last run."""
    found = [_source(ctx, source.name) for source in sources.list_sources(ctx.scope)]
    ctx.record()
    return SourceList(sources=found)


@router.get("/{name}", name="source.read")
def get_source(name: str, ctx: AdminCtx) -> SourceOut:
    """One source: its paths by status and its last run."""
    out = _source(ctx, name)
    ctx.record([name])
    return out


def _source(ctx: AdminCtx, name: str) -> SourceOut:
    source = sources.get(ctx.scope, name)
    last = runs.latest(ctx.scope, source.id, source.name)
    given = permissions.source_access(source)
    return SourceOut(
        name=source.name,
        created_at=source.created_at,
        access=AccessOut(users=list(given.users), groups=list(given.groups)) if given else None,
        documents=sources.status_counts(ctx.scope, source.id),
        last_run=run_out(last) if last else None,
    )


@router.delete("/{name}", name="source.delete", dependencies=[IndexWrites])
def delete_source(name: str, ctx: AdminCtx, services: ServicesDep) -> Receipt:
    """Erase every document of the source (all versions), its runs, and the source."""
    receipt = sync.delete_source(ctx.scope, services.index, services.blobs, name, intent=ctx.intent)
    ctx.record([name], **asdict(receipt))
    return Receipt(**asdict(receipt))


@router.patch("/{name}", name="source.access", dependencies=[IndexWrites])
def set_source_access(
    name: str, body: SourcePatch, ctx: AdminCtx, services: ServicesDep
) -> SourceOut:
    """Change who may read the source's documents (every version, and the ones to come); the
    index's payload changes before this answers, so the next search obeys it."""
    permissions.set_source_access(ctx.scope, services.index, name, domain_access(body.access))
    ctx.record([name], access=body.access.model_dump() if body.access else None)
    return _source(ctx, name)


@router.post("/{name}/runs", name="source.sync.start", dependencies=[IndexWrites])
def start_run(name: str, body: SyncRunIn, ctx: AdminCtx, services: ServicesDep) -> SyncRunOut:
    """Start a sync from a manifest (or resume the open run of the same manifest); the
    answer names the files to upload. `dry_run` only answers the plan."""
    settings = services.settings
    checked = manifest.check(
        [manifest.Entry(e.path, e.sha256, e.size) for e in body.manifest],
        max_entries=settings.max_manifest_entries,
        max_bytes=settings.max_upload_bytes,
    )
    options = sync.RunOptions(
        prune=body.prune, dry_run=body.dry_run, idle=timedelta(seconds=settings.sync_idle_s)
    )
    started = sync.start(ctx.scope, name, checked, options, key_id=ctx.principal.key_id)
    if started.run is None:
        return _plan(name, started.steps, prune=body.prune)
    if "access" in body.model_fields_set:
        given = domain_access(body.access)
        permissions.set_source_access(ctx.scope, services.index, name, given)
    ctx.record([name, str(started.run.id)], manifest=checked.sha256, resumed=started.resumed)
    view = runs.view(ctx.scope, name, started.run.id, limit=0, offset=0)
    return run_out(view, needed=runs.needed(ctx.scope, started.run), resumed=started.resumed)


@router.get("/{name}/runs", name="source.sync.list")
def list_runs(
    name: str, ctx: AdminCtx, limit: Annotated[int, Query(ge=1, le=200)] = 20, offset: Offset = 0
) -> list[SyncRunOut]:
    """The source's runs, newest first, with their counts."""
    found = runs.list_runs(ctx.scope, name, limit=limit, offset=offset)
    ctx.record([name])
    return [run_out(view) for view in found]


@router.get("/{name}/runs/{run_id}", name="source.sync.read")
def get_run(
    name: str, run_id: uuid.UUID, ctx: AdminCtx, entries: EntriesLimit = 1000, offset: Offset = 0
) -> SyncRunOut:
    """One run: who, when, the manifest's hash, counts, and each path's action and outcome
    (changed paths first); `entries` and `offset` page through them."""
    view = runs.view(ctx.scope, name, run_id, limit=entries, offset=offset)
    ctx.record([name, str(run_id)])
    needed = runs.needed(ctx.scope, view.run) if view.phase == "open" else []
    return run_out(view, needed=needed, offset=offset, limit=entries)


@router.post("/{name}/runs/{run_id}/files", name="source.sync.upload")
def upload_files(
    name: str,
    run_id: uuid.UUID,
    ctx: AdminCtx,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="Files of the run, named by path.")],
) -> SyncFilesOut:
    """Upload files the run asked for (each file's name is its path in the source). A file
    that changed since the manifest, or is of a type we do not index, fails alone."""
    run = runs.get(ctx.scope, name, run_id)
    incoming = [read_upload(f, services.settings.max_upload_bytes) for f in files]
    taken = sync.receive(ctx.scope, services.blobs, run, incoming, upload_options(services))
    ctx.record([name, str(run_id)], paths=[e.path for e in taken])
    if services.settings.workers == "embedded":
        services.worker.wake()
    return SyncFilesOut(
        entries=[_entry(e, {}) for e in taken], needed=len(runs.needed(ctx.scope, run))
    )


@router.post("/{name}/runs/{run_id}/commit", name="source.sync.commit", dependencies=[IndexWrites])
def commit_run(name: str, run_id: uuid.UUID, ctx: AdminCtx, services: ServicesDep) -> SyncRunOut:
    """Once every file the run asked for was uploaded: move renamed paths and erase the
    paths that left the source (each with a receipt); 409 while files are missing."""
    run = runs.get(ctx.scope, name, run_id)
    sync.commit(ctx.scope, services.index, services.blobs, run, intent=ctx.intent)
    view = runs.view(ctx.scope, name, run_id, limit=1000, offset=0)
    erased = [str(e.document_id) for e in view.entries if e.action == SyncAction.ERASE]
    renamed = [[e.renamed_from, e.path] for e in view.entries if e.action == SyncAction.RENAME]
    ctx.record([name, str(run_id)], counts=view.counts, erased=erased, renamed=renamed)
    return run_out(view)


def run_out(
    view: RunView,
    *,
    needed: list[str] | None = None,
    resumed: bool = False,
    offset: int = 0,
    limit: int = 0,
) -> SyncRunOut:
    """The wire form of a run."""
    run = view.run
    more = offset + limit if limit and len(view.entries) == limit else None
    return SyncRunOut.model_validate(
        {
            "id": run.id,
            "source": view.source,
            "phase": view.phase,
            "prune": run.prune,
            "resumed": resumed,
            "manifest_sha256": run.manifest_sha256,
            "key_id": run.key_id,
            "created_at": run.created_at,
            "committed_at": run.committed_at,
            "counts": view.counts,
            "needed": needed or [],
            "entries": [_entry(e, view.documents) for e in view.entries],
            "next_offset": more,
        }
    )


def _entry(entry: SyncEntry, versions: dict[uuid.UUID, Document]) -> SyncEntryOut:
    version = versions.get(entry.document_id) if entry.document_id else None
    out = SyncEntryOut.model_validate(entry)
    if version is None:
        return out
    return out.model_copy(
        update={"document_status": version.status.value, "document_error": version.error}
    )


def _plan(name: str, steps: list[sync.Step], *, prune: bool) -> SyncRunOut:
    counts = {action: sum(1 for s in steps if s.action == action) for action in SyncAction}
    entries = [
        SyncEntryOut.model_validate(
            {
                "path": step.path,
                "action": step.action,
                "state": "needed" if step.action in sync.NEEDS_BYTES else "pending",
                "document_id": step.document.id if step.document else None,
                "renamed_from": step.renamed_from,
            }
        )
        for step in sorted(steps, key=lambda s: (s.action == SyncAction.UNCHANGED, s.path))
    ]
    files = sum(1 for s in steps if s.entry is not None)
    return SyncRunOut(
        id=None,
        source=name,
        phase="plan",
        prune=prune,
        counts={"files": files, **{a.value: n for a, n in counts.items()}},
        needed=[s.path for s in steps if s.action in sync.NEEDS_BYTES],
        entries=entries,
    )
