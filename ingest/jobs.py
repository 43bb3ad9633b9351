"""Job progress, derived from the statuses of the documents a job names."""

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from ingest.models import Job, JobItem
from retrieval.models import Document
from tenancy.scope import Scope

TERMINAL = frozenset({"ready", "failed", "superseded"})


@dataclass(frozen=True)
class JobView:
    """A job with its documents and counts."""

    job: Job
    status: str
    total: int
    done: int
    failed: int
    documents: list[Document]


def get_job(scope: Scope, job_id: uuid.UUID) -> JobView:
    """One job of the tenant with progress, or NotFound."""
    job = scope.get(Job, job_id, kind="job")
    query = (
        select(Document)
        .join(JobItem, JobItem.document_id == Document.id)
        .where(JobItem.job_id == job.id, JobItem.tenant_id == scope.tenant_id)
        .where(Document.tenant_id == scope.tenant_id)
        .order_by(JobItem.position)
    )
    return summarize(job, list(scope.session.scalars(query)))


def summarize(job: Job, documents: list[Document]) -> JobView:
    """Counts and overall status of a job."""
    failed = sum(1 for d in documents if d.status == "failed")
    done = sum(1 for d in documents if d.status in TERMINAL) - failed
    started = any(d.status != "queued" for d in documents)
    if done + failed == len(documents):
        status = "failed" if documents and failed == len(documents) else "done"
    else:
        status = "running" if started else "queued"
    return JobView(job, status, len(documents), done, failed, documents)
