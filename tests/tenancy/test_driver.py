"""Statements run on the driver read and write exactly what SQLAlchemy's layer does."""

import gc
import uuid
import weakref
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, bindparam, event, exc, func, insert, literal, select, text
from sqlalchemy.orm import Session

from api.ops import migrate
from tenancy import audit, driver, keys, operators, tenants
from tenancy import db as database
from tenancy.access import Identity
from tenancy.db import utcnow
from tenancy.ids import TenantId
from tenancy.models import AuditEvent
from tenancy.roles import Principal, Role
from tenancy.scope import Scope
from tests.conftest import PG_ADMIN

_ONE = select(literal(1).label("one"))


def _by_sqlalchemy(connection: Connection, statement: Any, params: dict[str, Any]) -> list[Any]:
    return [dict(row) for row in connection.execute(statement, params).mappings().all()]


def _typed(rows: list[dict[str, Any]]) -> list[dict[str, tuple[type, Any, Any]]]:
    """Each value with its type (a UUID must come back a UUID) and a datetime's zone (equal
    aware datetimes of two zones compare equal)."""
    return [
        {key: (type(value), value, getattr(value, "tzinfo", None)) for key, value in row.items()}
        for row in rows
    ]


def test_a_keys_row_reads_as_sqlalchemy_reads_it(db: Session) -> None:
    tenant = TenantId(tenants.create(db, name="acme").id)
    tenants.set_limits(db, tenant, tenants.Limits(rate_per_second=0.5, rate_burst=3))
    spec = keys.KeySpec(
        role=Role.READER,
        name="bound",
        identity=Identity("ada", ("eng", "ops")),
        expires_at=utcnow() + timedelta(days=1),
    )
    issued = [
        keys.issue(Scope(db, tenant), spec).key,
        keys.issue(Scope(db, tenant), keys.KeySpec(role=Role.ADMIN, name="admin")).key,
        operators.issue(db, name="op").key,
    ]
    db.flush()
    connection = db.connection()
    for key in [*issued, "ek_no-such-key"]:
        params = {"digest": keys.hash_key(key)}
        expected = _by_sqlalchemy(connection, keys._by_hash(), params)
        assert _typed(driver.rows(connection, keys._by_hash(), params)) == _typed(expected)
    assert keys.admit(db, issued[0]).principal.identity == Identity("ada", ("eng", "ops"))


def test_an_audit_event_inserted_on_the_driver_reads_back_as_written(db: Session) -> None:
    tenant = TenantId(tenants.create(db, name="acme").id)
    actor = audit.Actor(Principal(uuid.uuid4(), Role.READER, tenant), request_id="r-1")
    details = {"query": "pümp välves", "hits": [{"rank": 1, "score": 0.5}], "n": None}
    written = [
        audit.record(db, tenant, actor, audit.Entry("search", [str(uuid.uuid4())], "ok", details))
        for _ in range(3)
    ]
    db.expire_all()
    read = db.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant)).all()
    assert sorted((e.seq, e.hash, e.details, e.at, e.key_id) for e in read) == [
        (e.seq, e.hash, e.details, e.at, e.key_id) for e in written
    ]
    assert [e.seq for e in written] == [1, 2, 3]  # each read the head the last one wrote
    assert audit.verify(db, tenant).ok


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(db: Session) -> None:
    tenant = TenantId(tenants.create(db, name="acme").id)
    event_ = audit.record(db, tenant, audit.Actor(None), audit.Entry("login"))
    values = {c.key: getattr(event_, c.key) for c in AuditEvent.__table__.columns}
    with pytest.raises(exc.IntegrityError):  # the same primary key again
        driver.insert(db.connection(), insert(AuditEvent), values)


def test_the_engines_listeners_see_what_the_driver_sends(db: Session) -> None:
    sent: list[str] = []

    def seen(*args: Any) -> None:
        sent.append(str(args[2]))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        driver.rows(db.connection(), keys._by_hash(), {"digest": "x"})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(sent) == 1
    assert "api_keys" in sent[0]


def test_statements_built_per_call_do_not_pile_up_plans(db: Session) -> None:
    connection = db.connection()
    for n in range(driver.MAX_PLANS + 20):
        assert driver.rows(connection, select(AuditEvent.seq).limit(n + 1), {}) == []
    assert len(getattr(connection.dialect, driver._ATTRIBUTE)) <= driver.MAX_PLANS


def test_an_insert_on_the_driver_rolls_back_with_the_session(db: Session) -> None:
    tenant = TenantId(tenants.create(db, name="acme").id)
    db.commit()
    audit.record(db, tenant, audit.Actor(None), audit.Entry("login"))
    db.rollback()
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_statement_whose_binds_the_dialect_escapes_runs_through_sqlalchemy(
    db: Session,
) -> None:
    odd = select(AuditEvent.seq).where(AuditEvent.seq == bindparam("a.b"))
    assert driver.rows(db.connection(), odd, {"a.b": 1}) == []


def test_an_engines_plans_go_with_it(database_url: str) -> None:
    engine = database.make_engine(database_url)  # not migrated: Alembic keeps dialects of its own
    with engine.connect() as connection:
        assert driver.rows(connection, _ONE, {}) == [{"one": 1}]
    dialect = weakref.ref(engine.dialect)
    engine.dispose()
    del engine, connection
    gc.collect()
    assert dialect() is None


@pytest.mark.postgres
def test_a_lost_connection_is_invalidated_and_the_failure_still_audited(
    postgres_url: str,
) -> None:
    engine = database.make_engine(postgres_url)
    migrate.upgrade(engine)
    sessions = database.session_factory(engine)
    with sessions.begin() as setup:
        tenant = TenantId(tenants.create(setup, name="acme").id)
    with sessions() as session:
        backend = session.execute(text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with pytest.raises(exc.OperationalError) as raised:
            driver.rows(session.connection(), keys._by_hash(), {"digest": "x"})
        assert raised.value.connection_invalidated
        # What a request does after a failure (`api.transaction.committed`): roll back, then
        # audit the failure in a new transaction, on a new connection.
        session.rollback()
        audit.record(session, tenant, audit.Actor(None), audit.Entry("search", [], "error"))
        session.commit()
    with sessions() as check:
        events = check.scalars(select(AuditEvent.outcome).where(AuditEvent.tenant_id == tenant))
        assert list(events) == ["error"]
    engine.dispose()
