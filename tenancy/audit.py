"""The audit log: one hash chain per tenant (null tenant: the system chain)."""

import functools
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tenancy import anchors, db, system
from tenancy.anchors import Checkpoint
from tenancy.db import utcnow
from tenancy.ids import TenantId, new_id
from tenancy.models import AuditEvent, Tenant
from tenancy.roles import Principal
from tenancy.scope import AnySelect, Scope, prepared

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did it and in which request; the principal is None for failed authentication."""

    principal: Principal | None
    request_id: str | None = None


@dataclass(frozen=True)
class Entry:
    """What happened."""

    action: str
    targets: list[str] = field(default_factory=list)
    outcome: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """Result of recomputing a chain."""

    ok: bool
    events: int
    first_broken_seq: int | None = None
    reason: str | None = None
    # Checked against the checkpoints kept outside the database: how many, up to which seq.
    checkpoints: int = 0
    anchored_seq: int | None = None


def record(session: Session, tenant_id: TenantId | None, actor: Actor, entry: Entry) -> AuditEvent:
    """Append `entry` to the tenant's chain (None: the system chain) in the caller's transaction."""
    if tenant_id is None:
        return _append_system(session, actor, entry)
    scope = Scope(session, tenant_id)
    _lock_chain(session, tenant_id)
    # Only the link is needed: loading the whole last event (its JSON details) cost more.
    head = scope.execute(_TENANT_HEAD)
    event = _sealed(scope.own(_event(actor, entry, head[0] if head else None)))
    scope.insert(event)  # every request appends one: no unit of work
    return event


# The chain's head, built once (every request appends an event).
_TENANT_HEAD = prepared(
    select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
)


@system.wide("the system chain (operators, failed authentication) belongs to no tenant")
def _append_system(session: Session, actor: Actor, entry: Entry) -> AuditEvent:
    _lock_chain(session, None)
    head = session.execute(_system_chain(AuditEvent.seq, AuditEvent.hash).limit(1)).mappings()
    event = _sealed(_event(actor, entry, head.first()))
    db.insert_row(session, event)
    return event


@system.wide("the system chain (operators, failed authentication) belongs to no tenant")
def _system_chain(*columns: Any) -> AnySelect:
    """The system chain's events (or `columns` of them), newest first."""
    query = select(*columns) if columns else select(AuditEvent)
    return query.where(AuditEvent.tenant_id.is_(None)).order_by(AuditEvent.seq.desc())


def _event(actor: Actor, entry: Entry, head: Mapping[Any, Any] | None) -> AuditEvent:
    """The next link after `head` (None: the chain's first), not yet hashed."""
    return AuditEvent(
        id=new_id(),
        seq=(head["seq"] + 1) if head else 1,
        at=utcnow(),
        key_id=actor.principal.key_id if actor.principal else None,
        role=actor.principal.role.value if actor.principal else None,
        action=entry.action,
        targets=list(entry.targets),
        outcome=entry.outcome,
        request_id=actor.request_id,
        details=entry.details,
        prev_hash=head["hash"] if head else GENESIS,
    )


def _sealed(event: AuditEvent) -> AuditEvent:
    """`event` with its hash, once every hashed field (its tenant too) is set."""
    event.hash = event_hash(event)
    return event


def _lock_chain(session: Session, tenant_id: uuid.UUID | None) -> None:
    # PostgreSQL runs appends concurrently: serialise each chain until commit.
    # SQLite sessions begin IMMEDIATE, so writers are already serialised.
    if session.get_bind().dialect.name == "postgresql":
        key = f"audit:{tenant_id or 'system'}"
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the canonical JSON of the event's fields and the previous hash."""
    canonical = json.dumps(
        event_body(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_body(event: AuditEvent) -> dict[str, Any]:
    """The hashed fields of an event, JSON-ready (also what an export shows)."""
    return {
        "tenant_id": str(event.tenant_id) if event.tenant_id else None,
        "seq": event.seq,
        "at": _iso(event.at),
        "key_id": str(event.key_id) if event.key_id else None,
        "role": event.role,
        "action": event.action,
        "targets": event.targets,
        "outcome": event.outcome,
        "request_id": event.request_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class EventQuery:
    """Filters for listing a tenant's events."""

    action: str | None = None
    key_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


def list_events(scope: Scope, query: EventQuery) -> list[AuditEvent]:
    """The tenant's events in chain order, filtered and paginated by sequence number."""
    stmt = scope.select(AuditEvent).where(AuditEvent.seq > query.after_seq)
    if query.action:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.key_id:
        stmt = stmt.where(AuditEvent.key_id == query.key_id)
    if query.since:
        stmt = stmt.where(AuditEvent.at >= query.since)
    if query.until:
        stmt = stmt.where(AuditEvent.at < query.until)
    return scope.all(stmt.order_by(AuditEvent.seq).limit(query.limit))


def verify(session: Session, tenant_id: TenantId | None) -> Verification:
    """Recompute a tenant's chain (None: the system chain) and report the first broken link."""
    if tenant_id is None:
        return _verify_system(session)
    scope = Scope(session, tenant_id)
    return _verified(scope.all(scope.select(AuditEvent).order_by(AuditEvent.seq)))


@system.wide("the system chain (operators, failed authentication) belongs to no tenant")
def _verify_system(session: Session) -> Verification:
    return _verified(reversed(list(session.scalars(_system_chain()))))


def verify_anchored(
    session: Session,
    tenant_id: TenantId | None,
    checkpoints: Sequence[Checkpoint],
    jwks: dict[str, Any],
) -> Verification:
    """The chain checked link by link, then against its checkpoints: an edit, a re-hash, a
    cut or a wipe is reported with the first sequence number no longer proven."""
    events = _chain_events(session, tenant_id)
    inside = _verified(events)
    outside = _against(events, checkpoints, jwks)
    broken = [v for v in (inside, outside) if not v.ok]
    worst = min(broken, key=lambda v: v.first_broken_seq or 0) if broken else inside
    return replace(worst, checkpoints=len(checkpoints), anchored_seq=outside.anchored_seq)


def _chain_events(session: Session, tenant_id: TenantId | None) -> list[AuditEvent]:
    if tenant_id is None:
        return list(reversed(list(session.scalars(_system_chain()))))
    scope = Scope(session, tenant_id)
    return scope.all(scope.select(AuditEvent).order_by(AuditEvent.seq))


def _against(
    events: Sequence[AuditEvent], checkpoints: Sequence[Checkpoint], jwks: dict[str, Any]
) -> Verification:
    """The chain against its checkpoints, oldest first."""
    hashes = {event.seq: event.hash for event in events}
    last = max(hashes, default=0)
    proven, prev = 0, anchors.GENESIS
    for point in checkpoints:
        problem = _anchor_problem(point, prev, hashes, last, proven, jwks)
        if problem is not None:
            first, reason = problem
            return Verification(False, len(events), first, reason, anchored_seq=proven or None)
        prev, proven = point.line_hash(), point.seq
    return Verification(True, len(events), anchored_seq=proven or None)


def _anchor_problem(
    point: Checkpoint,
    prev: str,
    hashes: dict[int, str],
    last: int,
    proven: int,
    jwks: dict[str, Any],
) -> tuple[int, str] | None:
    if not anchors.signed_by(point, jwks):
        return proven + 1, f"the checkpoint at seq {point.seq} is not signed by the service"
    if point.prev != prev:
        return proven + 1, f"a checkpoint line before seq {point.seq} is missing or altered"
    if point.seq > last:
        return last + 1, f"the chain ends at seq {last}, but seq {point.seq} was anchored"
    if hashes.get(point.seq) != point.hash:
        return proven + 1, f"seq {point.seq} no longer matches its checkpoint: events rewritten"
    return None


def _verified(events: Iterable[AuditEvent]) -> Verification:
    prev, count = GENESIS, 0
    for event in events:
        count += 1
        problem = _link_problem(event, prev, count)
        if problem:
            return Verification(ok=False, events=count, first_broken_seq=event.seq, reason=problem)
        prev = event.hash
    return Verification(ok=True, events=count)


def _link_problem(event: AuditEvent, prev: str, expected_seq: int) -> str | None:
    if event.seq != expected_seq:
        return f"sequence gap: expected {expected_seq}, found {event.seq}"
    if event.prev_hash != prev:
        return "previous-hash link does not match"
    if event.hash != event_hash(event):
        return "event content does not match its hash"
    return None


@system.wide("checkpoints anchor the head of every tenant's chain (hashes only leave)")
def heads(session: Session) -> dict[str, tuple[int, str]]:
    """The newest event of every chain, by chain name: (seq, hash).

    The anchorer asks every hundred events, so each chain's head is one seek in its
    (tenant, seq) index, not a scan of the whole log (a chain belongs to a tenant, whose
    erasure takes its events along, or is the system chain)."""
    found = {
        anchors.chain_name(tenant): (seq, hash_)
        for tenant, seq, hash_ in session.execute(_tenant_heads())
        if seq is not None  # a tenant without events yet
    }
    system_head = session.execute(_system_chain(AuditEvent.seq, AuditEvent.hash).limit(1)).first()
    if system_head is not None:
        found[anchors.SYSTEM] = (system_head.seq, system_head.hash)
    return found


@system.wide("checkpoints anchor the head of every tenant's chain (hashes only leave)")
@functools.cache
def _tenant_heads() -> AnySelect:
    # Tenants first, each head found from its tenant: scalar subqueries keep planners to that
    # order (a join let SQLite scan the events and look up each one's tenant).
    def newest(column: Any) -> Any:
        return (
            select(column)
            .where(AuditEvent.tenant_id == Tenant.id)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
            .correlate(Tenant)
            .scalar_subquery()
        )

    return select(Tenant.id, newest(AuditEvent.seq), newest(AuditEvent.hash))
