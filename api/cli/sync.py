"""`enclave sync DIR --source NAME`: mirror a folder into a source of a running server.

The folder is walked without following symlinks (nothing outside DIR is read); hidden files
and folders and whatever `.enclaveignore` (gitignore syntax) names are left out. The server
gets the manifest first and answers which files it needs; only those are uploaded; then the
run is committed (renames, and erasures of the paths that left) and followed until every
new version is indexed.
"""

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from enclave_client.client import Client
from enclave_client.models import ManifestEntry, SyncEntryOut, SyncRunOut

IGNORE_FILE = ".enclaveignore"
BATCH_FILES = 50
BATCH_BYTES = 32 * 1024 * 1024
CHANGED = ("add", "update", "rename", "erase")
PAGE = 5000


@dataclass(frozen=True)
class Local:
    """A file of the folder: where it is on disk and its entry in the manifest."""

    disk: Path
    entry: ManifestEntry


def collect(root: Path) -> list[Local]:
    """Every file of `root` that a sync sends, with its SHA-256, in path order."""
    ignored = _ignore_spec(root)
    found = []
    for disk, relative in _walk(root):
        if not ignored.match_file(relative):
            found.append(Local(disk, _entry(disk, relative)))
    return sorted(found, key=lambda item: item.entry.path)


def _walk(root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under `root` as (path on disk, relative POSIX path); no symlinks, no
    hidden names."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            disk = Path(folder) / name
            if not name.startswith(".") and not disk.is_symlink() and disk.is_file():
                yield disk, disk.relative_to(root).as_posix()


def _ignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    rules = root / IGNORE_FILE
    lines = rules.read_text(encoding="utf-8").splitlines() if rules.is_file() else []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _entry(disk: Path, relative: str) -> ManifestEntry:
    digest = hashlib.sha256()
    with disk.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return ManifestEntry(path=relative, sha256=digest.hexdigest(), size=disk.stat().st_size)


def run(
    client: Client,
    root: Path,
    *,
    source: str,
    prune: bool,
    dry_run: bool,
    console: Console,
) -> SyncRunOut:
    """Sync `root` into `source`: plan, upload what is needed, commit, follow to the end."""
    files = collect(root)
    manifest = [item.entry for item in files]
    started = client.start_sync(source, manifest, prune=prune, dry_run=dry_run)
    if dry_run or started.id is None:
        return started
    wanted = set(started.needed)
    _upload(client, source, started, [f for f in files if f.entry.path in wanted], console)
    client.commit_sync(source, started.id)
    return follow(client, source, started, console)


def _upload(
    client: Client, source: str, started: SyncRunOut, files: list[Local], console: Console
) -> None:
    if not files or started.id is None:
        return
    with _bar(console) as progress:
        task = progress.add_task("uploading", total=len(files))
        for batch in _batches(files):
            pairs = [(item.entry.path, item.disk.read_bytes()) for item in batch]
            client.sync_files(source, started.id, pairs)
            progress.advance(task, len(batch))


def _batches(files: list[Local]) -> Iterator[list[Local]]:
    batch: list[Local] = []
    size = 0
    for item in files:
        if batch and (len(batch) >= BATCH_FILES or size + item.entry.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.entry.size
    if batch:
        yield batch


def follow(
    client: Client, source: str, started: SyncRunOut, console: Console, *, poll_s: float = 0.5
) -> SyncRunOut:
    """Wait until every version the run uploaded is indexed or failed; the final record."""
    assert started.id is not None
    uploaded = started.counts.get("add", 0) + started.counts.get("update", 0)
    with _bar(console) as progress:
        task = progress.add_task("indexing", total=uploaded)
        current = client.sync_run(source, started.id, entries=0)
        while current.phase == "indexing":
            settled = current.counts["indexed"] + current.counts["failed"]
            progress.update(task, completed=settled)
            time.sleep(poll_s)
            current = client.sync_run(source, started.id, entries=0)
        progress.update(task, completed=uploaded)
    return record(client, source, started.id)


def record(client: Client, source: str, run_id: uuid.UUID) -> SyncRunOut:
    """The run with every entry, read page by page."""
    page = client.sync_run(source, run_id, entries=PAGE)
    entries = list(page.entries)
    while page.next_offset is not None:
        page = client.sync_run(source, run_id, entries=PAGE, offset=page.next_offset)
        entries += page.entries
    return page.model_copy(update={"entries": entries, "next_offset": None})


def _bar(console: Console) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, console=console, transient=True)


def report(out: SyncRunOut, console: Console) -> None:
    """The changed paths and their outcome, then one summary line."""
    table = Table("action", "path", "outcome")
    for entry in out.entries:
        if entry.action in CHANGED:
            table.add_row(entry.action, _shown(entry.path, entry.renamed_from), _outcome(entry))
    if table.row_count:
        console.print(table)
    counts = out.counts
    summary = ", ".join(f"{counts.get(a, 0)} {a}" for a in ("add", "update", "unchanged", "rename"))
    erased = counts.get("erase", 0) if out.prune else 0
    tail = f"{erased} erased" if out.prune else f"{counts.get('keep', 0)} kept (no prune)"
    verb = "would" if out.id is None else "did"
    console.print(f"{out.source}: {verb} {summary}, {tail}; {counts.get('failed', 0)} failed")


def _shown(path: str, renamed_from: str | None) -> str:
    return f"{renamed_from} -> {path}" if renamed_from else path


def _outcome(entry: SyncEntryOut) -> str:
    error = entry.error or entry.document_error
    if entry.state == "failed" or entry.document_status == "failed":
        return f"[red]failed: {error}[/red]"
    return entry.document_status or entry.state


def exit_code(out: SyncRunOut) -> int:
    """0 when everything is indexed, 1 when a file failed."""
    return 1 if out.counts.get("failed", 0) else 0
