"""Job progress, derived from the statuses of the documents a job names."""

import enum
import uuid
from dataclasses import dataclass

from ingest.models import Job, JobItem
from retrieval.models import TERMINAL, Document, DocumentStatus
from tenancy.scope import Scope


class JobStatus(enum.StrEnum):
    """Where an upload's ingestion is: `done` may include failed documents, `failed` = all."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# A settled job changes no more (its documents may still be erased or replaced later).
SETTLED = frozenset({JobStatus.DONE, JobStatus.FAILED})


@dataclass(frozen=True)
class JobView:
    """A job with its documents and counts."""

    job: Job
    status: JobStatus
    total: int
    done: int
    failed: int
    documents: list[Document]


def get_job(scope: Scope, job_id: uuid.UUID) -> JobView:
    """One job of the tenant with progress, or NotFound."""
    job = scope.get(Job, job_id, kind="job")
    return summarize(job, _documents(scope, [job.id])[job.id])


def list_jobs(scope: Scope, *, limit: int, offset: int = 0) -> list[JobView]:
    """The tenant's jobs, newest first, each with its documents and progress."""
    page = scope.all(
        scope.select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    )
    named = _documents(scope, [job.id for job in page]) if page else {}
    return [summarize(job, named[job.id]) for job in page]


def _documents(scope: Scope, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Document]]:
    """The documents each job names, in upload order."""
    query = (
        scope.select(JobItem, JobItem.job_id, Document)
        .join(Document, JobItem.document_id == Document.id)
        .where(JobItem.job_id.in_(job_ids))
        .order_by(JobItem.position)
    )
    named: dict[uuid.UUID, list[Document]] = {job_id: [] for job_id in job_ids}
    for job_id, document in scope.rows(query):
        named[job_id].append(document)
    return named


def summarize(job: Job, documents: list[Document]) -> JobView:
    """Counts and overall status of a job."""
    failed = sum(1 for d in documents if d.status == DocumentStatus.FAILED)
    done = sum(1 for d in documents if d.status in TERMINAL) - failed
    started = any(d.status != DocumentStatus.QUEUED for d in documents)
    if done + failed == len(documents):
        all_failed = bool(documents) and failed == len(documents)
        status = JobStatus.FAILED if all_failed else JobStatus.DONE
    else:
        status = JobStatus.RUNNING if started else JobStatus.QUEUED
    return JobView(job, status, len(documents), done, failed, documents)
