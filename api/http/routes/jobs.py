"""Job routes: ingestion progress, now, long-polled, or streamed."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api import errors, progress
from api.http.deps import AdminCtx, ServicesDep
from api.schemas import MAX_INT
from enclave_client.models import JobList, JobOut
from ingest import jobs
from tenancy.errors import TenancyError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

Wait = Annotated[
    float,
    Query(
        ge=0,
        le=60,
        description="Long poll: answer once the job is `done` or `failed`, or after this many "
        "seconds, whichever comes first (0: at once).",
    ),
]


@router.get("", name="job.list")
def list_jobs(
    ctx: AdminCtx,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> JobList:
    """The tenant's uploads' ingestion jobs, newest first, each with its documents."""
    found = jobs.list_jobs(ctx.scope, limit=limit, offset=offset)
    ctx.record()
    more = offset + limit if len(found) == limit else None
    return JobList(jobs=[progress.render(view) for view in found], next_offset=more)


@router.get("/{job_id}", name="job.read")
async def get_job(job_id: uuid.UUID, ctx: AdminCtx, request: Request, wait: Wait = 0) -> JobOut:
    """Progress of an upload's ingestion and the status of each of its documents."""
    return await progress.job(ctx, job_id, wait=wait, gone=request.is_disconnected)


@router.get(
    "/{job_id}/events",
    name="job.events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events: `progress` with the job (JobOut JSON) at once "
            "and on each change, then `done` with the settled job; the stream then ends.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def job_events(job_id: uuid.UUID, ctx: AdminCtx, services: ServicesDep) -> StreamingResponse:
    """Follow a job's progress as Server-Sent Events until it settles."""
    await progress.job(ctx, job_id)  # a missing job is a 404 before the stream starts
    stream = _events(progress.changes(services, ctx, job_id))
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


async def _events(changes: AsyncIterator[JobOut | None]) -> AsyncIterator[str]:
    try:
        async for job in changes:
            if job is None:
                yield ": keep-alive\n\n"
                continue
            name = "done" if job.status in ("done", "failed") else "progress"
            yield f"event: {name}\ndata: {job.model_dump_json()}\n\n"
    except TenancyError as exc:  # the key was revoked, or the job erased, mid-stream
        status, code = errors.lookup(exc)
        message = "not found" if status == 404 else str(exc)
        yield f"event: error\ndata: {json.dumps(errors.error_body(code, message))}\n\n"
