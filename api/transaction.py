"""Where a request's transactions begin and end: HTTP routes and MCP tools alike.

A request has one session, and at most three transactions on it, in this order:

1. The credential check (`authenticate`, then `charge`): the key, then its rate limits.
   It only reads, and it ends before the route's work starts, except on the search route,
   whose work begins with step 2: there step 2 goes on in its transaction (one checkout, one
   BEGIN and one COMMIT of SQLAlchemy's fewer on every search), with a new snapshot: on
   SQLite a read's snapshot is fixed at its first read, and hit resolution must not read the
   database as of the key check, older than the index query it resolves (a version switch
   committed in between hid both versions; `tests/api/test_search_snapshot.py`).
2. The route's reads that come before its writes, when the domain marks them with
   `scope.reading()` (a search's index query and hit resolution). Also read-only, ended at
   the block's end.
3. The route's writes and its audit event: one write transaction, committed before the
   response leaves (`committed`), inside the write gate for routes that write to the index
   (`index_writes`). With group commit (on PostgreSQL by default), a search's writes go to
   the group writer instead (`api.writer`): one transaction for the searches waiting
   together, committed before any of their responses leaves. An erasure splits it in two:
   its intent (documents `erasing`, a tenant's keys revoked) is committed first
   (`Context.intent`), so that a crash while the index and blob store are changed leaves a
   state every read treats as gone, and that `ingest.erasure.resume` finishes.

A failure rolls back the open transaction; the failure of an authenticated caller is then
audited in a transaction of its own (`audit_failure`), and a refused credential likewise.
On SQLite the read-only transactions begin deferred and take no lock
(`tenancy.sqlite.read_only`), so the one writer lock is held by step 3 alone; other
databases ignore the distinction. Nothing else in a request commits: domain code only
flushes.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.services import Services
from ingest.gate import WriteGate
from tenancy import act_as as act_as_claims
from tenancy import audit, keys, limits, sqlite, tenants
from tenancy.errors import Unauthenticated
from tenancy.limits import Rate
from tenancy.models import AuditEvent
from tenancy.roles import Principal
from tenancy.scope import Scope

security_log = logging.getLogger("enclave.security")


@contextmanager
def read_phase(session: Session) -> Iterator[None]:
    """Step 2: run the block in a read-only transaction, committed at its end: its own, or
    the credential check's when the route kept that one open (`charge(reads_next=True)`)."""
    if sqlite.reading(session):
        sqlite.renew_snapshot(session)  # the key check's transaction, read as of from now on
    else:
        sqlite.read_only(session)
    yield
    session.commit()


@dataclass(frozen=True)
class Context:
    """The caller, its session and request id, and the audit action of what it asked for."""

    session: Session
    principal: Principal
    request_id: str
    action: str
    # Told of every audit event the request appends (the anchorer counts them).
    noted: Callable[[], None] = lambda: None

    @property
    def scope(self) -> Scope:
        """The caller's tenant scope, restricted to what it may read (operators have none:
        PermissionDenied)."""
        return Scope(
            self.session,
            self.principal.tenant(),
            read_phase=read_phase,
            access=self.principal.access_tokens(),
        )

    def intent(self) -> None:
        """Commit what the route has flushed so far: an erasure's intent, before it erases
        anything outside the database (step 3's first half)."""
        self.session.commit()

    def record(self, targets: list[str] | None = None, **details: Any) -> AuditEvent:
        """Audit this request's action on the caller's chain (the system chain for operators)."""
        entry = audit.Entry(action=self.action, targets=targets or [], details=details)
        actor = audit.Actor(self.principal, self.request_id)
        event = audit.record(self.session, self.principal.tenant_id, actor, entry)
        self.noted()
        return event


@contextmanager
def committed(session: Session, on_failure: Callable[[Exception], None]) -> Iterator[None]:
    """Step 3: commit when the block is done; when it raises, roll back, then `on_failure`."""
    try:
        yield
        session.commit()
    except Exception as exc:
        session.rollback()
        on_failure(exc)
        raise


def authenticate(
    session: Session, key: str | None, *, request_id: str, where: dict[str, str]
) -> keys.Admission:
    """Step 1, first half: the principal of `key` (and its tenant's rate); a refused key is
    audited on the system chain (`where` says what it tried)."""
    sqlite.read_only(session)  # the check only reads: it need not queue behind writers
    try:
        return keys.admit(session, key)
    except Unauthenticated:
        _audit_refused_key(session, request_id, where)
        raise


def act_as(
    session: Session,
    principal: Principal,
    assertion: str,
    *,
    request_id: str,
    where: dict[str, str],
) -> Principal:
    """Step 1, for a delegate key: the end user its signed assertion names (verified against
    the tenant's JWKS). Any other key, or a bad assertion, is refused and audited."""
    try:
        if not principal.delegate or principal.tenant_id is None:
            raise Unauthenticated("this key does not act for end users: send no Enclave-Act-As")
        jwks = tenants.get(session, principal.tenant_id).act_as_jwks
        identity = act_as_claims.verify(assertion, jwks, tenant_id=principal.tenant_id)
    except Unauthenticated as exc:
        _audit_refused_assertion(session, principal, request_id, {**where, "reason": str(exc)})
        raise
    return replace(principal, identity=identity)


def _audit_refused_assertion(
    session: Session, principal: Principal, request_id: str, details: dict[str, str]
) -> None:
    security_log.warning("security_event=act_as_refused path=%s", details.get("path", ""))
    session.rollback()
    entry = audit.Entry(action="auth.act_as", outcome="unauthenticated", details=details)
    audit.record(session, principal.tenant_id, audit.Actor(principal, request_id), entry)
    session.commit()


def charge(
    session: Session,
    services: Services,
    principal: Principal,
    tenant_rate: tenants.RateOverride | None,
    *,
    reads_next: bool = False,
) -> None:
    """Step 1, second half: take a token from the key's and the tenant's buckets (429 when
    one is empty), then end the credential check's transaction, unless the route's work
    begins with its read phase (`reads_next`), which then goes on in it."""
    limits.enforce(services.buckets, _rates(services, principal, tenant_rate))
    if not reads_next:
        session.commit()


def _rates(
    services: Services, principal: Principal, tenant_rate: tenants.RateOverride | None
) -> dict[str, Rate]:
    rates = {f"key:{principal.key_id}": services.key_rate}
    if principal.tenant_id is not None and tenant_rate is not None:
        rates[f"tenant:{principal.tenant_id}"] = tenant_rate.over(services.tenant_rate)
    return rates


def _audit_refused_key(session: Session, request_id: str, where: dict[str, str]) -> None:
    security_log.warning("security_event=auth_failed path=%s", where.get("path", ""))
    session.rollback()
    entry = audit.Entry(action="auth.failed", outcome="unauthenticated", details=where)
    audit.record(session, None, audit.Actor(None, request_id), entry)
    session.commit()


def audit_failure(ctx: Context, outcome: str, targets: list[str] | None = None) -> None:
    """After a rollback: audit the failed request of a known caller in its own transaction."""
    entry = audit.Entry(action=ctx.action, targets=targets or [], outcome=outcome)
    actor = audit.Actor(ctx.principal, ctx.request_id)
    audit.record(ctx.session, ctx.principal.tenant_id, actor, entry)
    ctx.session.commit()


@contextmanager
def index_writes(session: Session, gate: WriteGate) -> Iterator[None]:
    """Step 3 for routes that write to the index: the commit happens inside the write gate,
    so that a backup sees all of the request or none of it."""
    with gate.writing():
        yield
        session.commit()
    sqlite.checkpoint(cast(Engine, session.get_bind()))
