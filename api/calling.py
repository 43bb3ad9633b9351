"""A request's whole blocking part in one worker thread: the key's principal and its rate
limits, the role check, the work, the commit (the transactions of `api.transaction`); the
failure of a known caller is audited.

The MCP tools run this way, and so does the HTTP search route, the hot path: there, FastAPI's
dependencies would hand the request from thread to thread three times (session, principal,
route) for what is one blocking sequence.
"""

import functools
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from sqlalchemy.orm import Session
from starlette.requests import Request

from api import errors, identity, transaction
from api.services import Services
from api.transaction import Context
from tenancy.roles import Principal, Role

T = TypeVar("T")
Work = Callable[[Context, Services], T]


async def in_thread(
    request: Request, action: str, roles: tuple[Role, ...], work: Work[T], *, search: bool = False
) -> T:
    """`run` in a worker thread; a search first takes one of the searches' slots
    (`search_concurrency`), over HTTP and MCP alike, and its read phase goes on in the key
    check's transaction (`transaction.charge`)."""
    slots = identity.services_of(request).search_slots if search else None
    return await anyio.to_thread.run_sync(
        functools.partial(run, request, action, roles, work, reads_first=search), limiter=slots
    )


def run(
    request: Request,
    action: str,
    roles: tuple[Role, ...],
    work: Work[T],
    *,
    reads_first: bool = False,
) -> T:
    """Authenticate, check the role, do `work`, commit; roll back on failure, and audit it
    once the caller is known (a refused key is audited where it was refused; a refused rate,
    role or request as the caller's). `reads_first`: `work` begins with its read phase
    (`scope.reading()`), which may go on in the key check's read-only transaction."""
    built = identity.services_of(request)
    with built.sessions() as session:

        def failed(exc: Exception) -> None:
            known = getattr(request.state, "principal", None)
            if isinstance(known, Principal):
                noted = built.anchorer.noted
                ctx = Context(session, known, identity.request_id(request), action, noted)
                transaction.audit_failure(ctx, errors.outcome(exc))

        with transaction.committed(session, failed):
            principal = _principal(request, session, built, reads_next=reads_first)
            ctx = Context(
                session, principal, identity.request_id(request), action, built.anchorer.noted
            )
            principal.require(*roles)
            return work(ctx, built)


def _principal(
    request: Request, session: Session, built: Services, *, reads_next: bool
) -> Principal:
    """The principal a middleware already admitted this HTTP request with (`/mcp` does),
    else the key's: a key is checked and rate limited once per HTTP request."""
    admitted = getattr(request.state, "principal", None)
    if isinstance(admitted, Principal):
        return admitted
    return identity.principal(request, session, built, reads_next=reads_next)  # audits itself
