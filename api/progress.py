"""Following a job's progress: a long poll (`?wait=`) and a stream of its changes (SSE).

Each look at the job is a short read-only transaction of its own: nothing is held open while
the caller waits, and each look sees what the workers committed since the last.
"""

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.concurrency import run_in_threadpool

from api.services import Services
from api.transaction import Context
from enclave_client.models import JobDocument, JobOut, Progress
from ingest import jobs
from tenancy import keys

POLL_S, MAX_POLL_S = 0.2, 1.0  # between two looks at a job: from 0.2 s, growing to 1 s
STREAM_POLL_S = 0.5
KEEPALIVE_S = 15.0  # a quiet stream says it is alive this often (proxies cut silent ones)
STREAM_MAX_S = 3600.0  # a stream ends after an hour; the client reconnects if it still cares

Gone = Callable[[], Awaitable[bool]]


async def job(
    ctx: Context, job_id: uuid.UUID, *, wait: float = 0.0, gone: Gone | None = None
) -> JobOut:
    """The job now, or, with `wait`, once it settles or `wait` seconds have passed (or the
    client is `gone`)."""
    deadline, delay = time.monotonic() + wait, POLL_S
    view = await run_in_threadpool(_look, ctx, job_id)
    while view.status not in jobs.SETTLED and (left := deadline - time.monotonic()) > 0:
        if gone is not None and await gone():
            break
        await anyio.sleep(min(delay, left))
        delay = min(delay * 1.5, MAX_POLL_S)
        view = await run_in_threadpool(_look, ctx, job_id)
    await run_in_threadpool(ctx.record, [str(job_id)])
    return render(view)


async def changes(
    services: Services, ctx: Context, job_id: uuid.UUID
) -> AsyncIterator[JobOut | None]:
    """The job as it is, then each time it changes, until it settles (or an hour passes);
    None after each KEEPALIVE_S of silence.

    Runs after the request's own session is closed: each look opens a session of its own
    and checks the key again (a revoked key's stream ends with Unauthenticated)."""
    last: JobOut | None = None
    started = quiet_since = time.monotonic()
    while time.monotonic() - started < STREAM_MAX_S:
        current = await run_in_threadpool(_look_anew, services, ctx, job_id)
        if current != last:
            yield current
            last, quiet_since = current, time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_S:
            yield None
            quiet_since = time.monotonic()
        if current.status in jobs.SETTLED:
            return
        await anyio.sleep(STREAM_POLL_S)


def _look(ctx: Context, job_id: uuid.UUID) -> jobs.JobView:
    ctx.session.expire_all()  # the rows loaded by the last look are stale by now
    scope = ctx.scope
    with scope.reading():
        return jobs.get_job(scope, job_id)


def _look_anew(services: Services, ctx: Context, job_id: uuid.UUID) -> JobOut:
    with services.sessions() as session:
        fresh = Context(session, ctx.principal, ctx.request_id, ctx.action)
        with fresh.scope.reading():
            keys.check_usable(fresh.scope, ctx.principal.key_id)
        return render(_look(fresh, job_id))


def render(view: jobs.JobView) -> JobOut:
    """The wire form of a job."""
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
