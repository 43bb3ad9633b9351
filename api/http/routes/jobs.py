"""Job routes: ingestion progress."""

import uuid

from fastapi import APIRouter

from api.http.deps import AdminCtx
from enclave_client.models import JobDocument, JobOut, Progress
from ingest import jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", name="job.read")
def get_job(job_id: uuid.UUID, ctx: AdminCtx) -> JobOut:
    """Progress of an upload's ingestion and the status of each of its documents."""
    view = jobs.get_job(ctx.scope, job_id)
    ctx.record([str(job_id)])
    return JobOut(
        id=view.job.id,
        status=view.status,
        progress=Progress(total=view.total, done=view.done, failed=view.failed),
        documents=[
            JobDocument(id=d.id, filename=d.filename, status=d.status, error=d.error)
            for d in view.documents
        ],
        created_at=view.job.created_at,
    )
