"""Who works on which document: claims with expiring leases, shared by every worker process.

A worker claims queued documents (and `processing` ones whose lease ran out: their worker
died) with `FOR UPDATE SKIP LOCKED`, so concurrent workers on PostgreSQL never claim the
same row. While it works it renews its leases; every write that finishes a document checks
that the lease is still its own (`holds`), so a worker that stalled past its lease cannot
overwrite the work of the one that reclaimed the document.
"""

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Update,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from retrieval.models import Document, DocumentStatus
from tenancy import system
from tenancy.db import SessionFactory, utcnow


@dataclass(frozen=True)
class Lease:
    """The identity of a worker and how long its claims last without renewal."""

    owner: str
    seconds: float = 60.0
    max_attempts: int = 5

    @property
    def duration(self) -> timedelta:
        """The lease length."""
        return timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Claimed:
    """Documents to index now, and documents that used up their attempts."""

    ids: list[uuid.UUID]
    exhausted: list[uuid.UUID]
    tenants: frozenset[uuid.UUID] = frozenset()  # whose documents these are


@system.wide("the ingestion queue spans tenants: workers claim the oldest work of any tenant")
def claim(
    sessions: SessionFactory,
    lease: Lease,
    *,
    limit: int,
    max_bytes: int | None = None,
    served: Collection[uuid.UUID] = (),
) -> Claimed:
    """Lease up to `limit` claimable documents (and about `max_bytes` of them), taking the
    tenants in turn: each tenant's oldest document first, then each one's second, and so
    on, so that one tenant's big upload cannot hold another's small one behind it. Within
    a turn the tenants this worker `served` last come after the others (without it, the
    tenant that queued first would win every turn while its documents fill the budget)."""
    with sessions.begin() as session:
        now = utcnow()
        expired = and_(
            Document.status == DocumentStatus.PROCESSING,
            or_(Document.lease_expires_at.is_(None), Document.lease_expires_at < now),
        )
        claimable = or_(Document.status == DocumentStatus.QUEUED, expired)
        turn = func.row_number().over(
            partition_by=Document.tenant_id, order_by=(Document.created_at, Document.id)
        )
        columns = (Document.id, Document.tenant_id, Document.created_at, turn.label("turn"))
        ranked_sub = select(*columns).where(claimable).subquery()
        order_query = select(ranked_sub).order_by(
            ranked_sub.c.turn, ranked_sub.c.created_at, ranked_sub.c.id
        )
        candidates = sorted(  # stable: within a turn and a group, still oldest first
            session.execute(order_query.limit(limit * 2)).all(),
            key=lambda row: (row.turn, row.tenant_id in served),
        )
        order = [row.id for row in candidates]
        # Locked apart: PostgreSQL refuses FOR UPDATE beside a window function.
        locking = select(Document).where(Document.id.in_(order), claimable)
        locked = {d.id: d for d in session.scalars(locking.with_for_update(skip_locked=True))}
        rows = _within(  # in turn order, up to the limits
            [locked[i] for i in order if i in locked], limit=limit, max_bytes=max_bytes
        )
        for doc in rows:
            doc.status, doc.lease_owner = DocumentStatus.PROCESSING, lease.owner
            doc.lease_expires_at = now + lease.duration
            doc.attempts += 1
        exhausted = [d.id for d in rows if d.attempts > lease.max_attempts]
        tenants = frozenset(d.tenant_id for d in rows)
        return Claimed([d.id for d in rows if d.id not in exhausted], exhausted, tenants)


def _within(docs: list[Document], *, limit: int, max_bytes: int | None) -> list[Document]:
    """The first documents that fit `limit` and `max_bytes` (always at least one)."""
    taken: list[Document] = []
    total = 0
    for doc in docs[:limit]:
        if taken and max_bytes is not None and total + doc.size_bytes > max_bytes:
            break
        taken.append(doc)
        total += doc.size_bytes
    return taken


@system.wide("a worker renews its leases, whatever tenants its documents belong to")
def renew(sessions: SessionFactory, lease: Lease, ids: list[uuid.UUID]) -> int:
    """Extend this worker's leases on `ids`; returns how many it still holds."""
    if not ids:
        return 0
    held = update(Document).where(_held(lease.owner), Document.id.in_(ids))
    with sessions.begin() as session:
        return _count(session, held.values(lease_expires_at=utcnow() + lease.duration))


@system.wide("a worker gives back its leases, whatever tenants its documents belong to")
def release(sessions: SessionFactory, lease: Lease, ids: list[uuid.UUID]) -> int:
    """Give documents back to the queue untouched (a worker stopping before it started them)."""
    if not ids:
        return 0
    held = update(Document).where(_held(lease.owner), Document.id.in_(ids))
    with sessions.begin() as session:
        return _count(session, held.values(_QUEUED))


def holds(doc: Document, owner: str) -> bool:
    """Whether `doc` (read in the caller's transaction) is still leased to `owner`."""
    return doc.status == DocumentStatus.PROCESSING and doc.lease_owner == owner


@system.wide("work left `processing` by a process that is gone belongs to every tenant")
def requeue_orphans(connection: Session | Connection) -> int:
    """Queue again every `processing` document: at the start of the embedded worker (the only
    one, so all such work is orphaned), and in a backup's copy (nobody will finish it there)."""
    orphaned = update(Document).where(Document.status == DocumentStatus.PROCESSING)
    return _count(connection, orphaned.values(_QUEUED))


_QUEUED = {"status": DocumentStatus.QUEUED, "lease_owner": None, "lease_expires_at": None}


def _held(owner: str) -> ColumnElement[bool]:
    return and_(Document.status == DocumentStatus.PROCESSING, Document.lease_owner == owner)


def _count(connection: Session | Connection, statement: Update) -> int:
    return cast(CursorResult[Any], connection.execute(statement)).rowcount
