"""`enclave ingest`: upload a folder or files to a running server and follow the jobs."""

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from enclave_client.client import Client
from enclave_client.models import JobOut

BATCH_FILES = 20
BATCH_BYTES = 64 * 1024 * 1024


def collect(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Files to send as (path on disk, name with its path relative to the given folder)."""
    found: list[tuple[Path, str]] = []
    for root in paths:
        if root.is_file():
            found.append((root, root.name))
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if not any(part.startswith(".") for part in relative.parts):
                found.append((path, relative.as_posix()))
    return found


def batches(files: list[tuple[Path, str]]) -> Iterator[list[tuple[Path, str]]]:
    """Groups small enough for one request each."""
    batch: list[tuple[Path, str]] = []
    size = 0
    for item in files:
        item_size = item[0].stat().st_size
        if batch and (len(batch) >= BATCH_FILES or size + item_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def run(client: Client, paths: Sequence[Path], *, tags: Sequence[str], console: Console) -> int:
    """Upload everything, wait for every job, print a table; returns the number of failures."""
    files = collect(paths)
    if not files:
        console.print("[red]no files found[/red]")
        return 1
    job_ids = [client.upload_paths(batch, tags=tags).job_id for batch in batches(files)]
    jobs = follow(client, [str(j) for j in job_ids], console)
    return report(jobs, console)


def follow(
    client: Client, job_ids: list[str], console: Console, *, poll_s: float = 0.5
) -> list[JobOut]:
    """A progress bar per job until each is done."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        tasks = {j: progress.add_task(f"job {j[:8]}", total=None) for j in job_ids}
        final: dict[str, JobOut] = {}
        while len(final) < len(job_ids):
            for job_id in (j for j in job_ids if j not in final):
                job = client.job(job_id)
                done = job.progress.done + job.progress.failed
                progress.update(tasks[job_id], total=job.progress.total, completed=done)
                if job.status in ("done", "failed"):
                    final[job_id] = job
            time.sleep(poll_s if len(final) < len(job_ids) else 0)
    return [final[j] for j in job_ids]


def report(jobs: list[JobOut], console: Console) -> int:
    """The ready/failed table; returns how many failed."""
    table = Table("document", "status", "reason")
    failed = 0
    for doc in (d for job in jobs for d in job.documents):
        failed += doc.status == "failed"
        style = "red" if doc.status == "failed" else "green"
        table.add_row(doc.filename, f"[{style}]{doc.status}[/{style}]", doc.error or "")
    console.print(table)
    total = sum(len(j.documents) for j in jobs)
    console.print(f"{total - failed} ready, {failed} failed")
    return failed
