"""Who works on which document: claims with expiring leases, shared by every worker process.

A worker claims queued documents (and `processing` ones whose lease ran out: their worker
died) with `FOR UPDATE SKIP LOCKED`, so concurrent workers on PostgreSQL never claim the
same row. While it works it renews its leases; every write that finishes a document checks
that the lease is still its own (`holds`), so a worker that stalled past its lease cannot
overwrite the work of the one that reclaimed the document.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, Update, and_, or_, select, update

from retrieval.models import Document
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


def claim(sessions: SessionFactory, lease: Lease, *, limit: int) -> Claimed:
    """Lease up to `limit` claimable documents, oldest first (a system-wide query)."""
    with sessions.begin() as session:
        now = utcnow()
        rows = list(session.scalars(_claimable(now).limit(limit)))
        for doc in rows:
            doc.status, doc.lease_owner = "processing", lease.owner
            doc.lease_expires_at = now + lease.duration
            doc.attempts += 1
        exhausted = [d.id for d in rows if d.attempts > lease.max_attempts]
        return Claimed([d.id for d in rows if d.id not in exhausted], exhausted)


def _claimable(now: datetime) -> Select[Document]:
    expired = and_(
        Document.status == "processing",
        or_(Document.lease_expires_at.is_(None), Document.lease_expires_at < now),
    )
    query = select(Document).where(or_(Document.status == "queued", expired))
    return query.order_by(Document.created_at).with_for_update(skip_locked=True)


def renew(sessions: SessionFactory, lease: Lease, ids: list[uuid.UUID]) -> int:
    """Extend this worker's leases on `ids`; returns how many it still holds."""
    if not ids:
        return 0
    held = update(Document).where(_held(lease.owner), Document.id.in_(ids))
    return _count(sessions, held.values(lease_expires_at=utcnow() + lease.duration))


def release(sessions: SessionFactory, lease: Lease, ids: list[uuid.UUID]) -> int:
    """Give documents back to the queue untouched (a worker stopping before it started them)."""
    if not ids:
        return 0
    held = update(Document).where(_held(lease.owner), Document.id.in_(ids))
    return _count(sessions, held.values(status="queued", lease_owner=None, lease_expires_at=None))


def holds(doc: Document, owner: str) -> bool:
    """Whether `doc` (read in the caller's transaction) is still leased to `owner`."""
    return doc.status == "processing" and doc.lease_owner == owner


def requeue_all(sessions: SessionFactory) -> int:
    """The embedded worker is the only one: at start, all `processing` work is orphaned."""
    orphaned = update(Document).where(Document.status == "processing")
    return _count(
        sessions, orphaned.values(status="queued", lease_owner=None, lease_expires_at=None)
    )


def _held(owner: str) -> ColumnElement[bool]:
    return and_(Document.status == "processing", Document.lease_owner == owner)


def _count(sessions: SessionFactory, statement: Update) -> int:
    with sessions.begin() as session:
        result = cast(CursorResult[Any], session.execute(statement))
        return result.rowcount
