"""Keys: stored hashed, shown once, revocable, expiring; operator keys have no tenant."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tenancy import keys, operators, tenants
from tenancy.db import utcnow
from tenancy.errors import Conflict, InvalidRequest, NotFound, Unauthenticated
from tenancy.ids import TenantId
from tenancy.limits import Rate
from tenancy.models import ApiKey, AuditEvent
from tenancy.roles import Role
from tenancy.scope import Scope


def _tenant(session: Session, name: str = "acme") -> TenantId:
    return TenantId(tenants.create(session, name=name).id)


def test_issued_key_authenticates_and_is_never_stored_in_clear(db: Session) -> None:
    tenant = _tenant(db)
    issued = keys.issue(Scope(db, tenant), keys.KeySpec(role=Role.READER, name="bot"))
    assert issued.key.startswith("ek_")
    assert len(issued.key) > 40
    stored = db.scalars(select(ApiKey)).one()
    assert issued.key not in (stored.key_hash, stored.prefix)
    principal = keys.admit(db, issued.key).principal
    assert (principal.tenant_id, principal.role) == (tenant, Role.READER)


def test_a_key_is_admitted_with_its_own_tenants_rate_in_one_statement(db: Session) -> None:
    acme, globex = _tenant(db, "acme"), _tenant(db, "globex")
    tenants.set_limits(db, acme, tenants.Limits(rate_per_second=0.5, rate_burst=3))
    default = Rate(per_second=10, burst=20)
    of_acme = keys.issue(Scope(db, acme), keys.KeySpec(role=Role.READER, name="a")).key
    of_globex = keys.issue(Scope(db, globex), keys.KeySpec(role=Role.READER, name="g")).key
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.get_bind(), "before_cursor_execute", seen)
    admitted = keys.admit(db, of_acme)
    event.remove(db.get_bind(), "before_cursor_execute", seen)
    assert len(statements) == 1
    assert admitted.principal.tenant_id == acme
    assert admitted.tenant_rate is not None
    assert admitted.tenant_rate.over(default) == Rate(per_second=0.5, burst=3)
    other = keys.admit(db, of_globex).tenant_rate
    assert other is not None
    assert other.over(default) == default
    assert keys.admit(db, operators.issue(db, name="op").key).tenant_rate is None


@pytest.mark.parametrize("bad", [None, "", "ek_nope", "x" * 1000])
def test_unknown_or_malformed_keys_are_rejected(db: Session, bad: str | None) -> None:
    with pytest.raises(Unauthenticated):
        keys.admit(db, bad)


def test_revoked_key_stops_working(db: Session) -> None:
    tenant = _tenant(db)
    issued = keys.issue(Scope(db, tenant), keys.KeySpec(role=Role.ADMIN, name="a"))
    keys.revoke(Scope(db, tenant), issued.row.id)
    with pytest.raises(Unauthenticated):
        keys.admit(db, issued.key)


def test_expired_key_stops_working(db: Session) -> None:
    tenant = _tenant(db)
    past = utcnow() - timedelta(seconds=1)
    issued = keys.issue(Scope(db, tenant), keys.KeySpec(role=Role.ADMIN, name="a", expires_at=past))
    with pytest.raises(Unauthenticated):
        keys.admit(db, issued.key)


def test_a_tenant_cannot_revoke_another_tenants_key(db: Session) -> None:
    acme, globex = _tenant(db, "acme"), _tenant(db, "globex")
    issued = keys.issue(Scope(db, globex), keys.KeySpec(role=Role.ADMIN, name="a"))
    with pytest.raises(NotFound):
        keys.revoke(Scope(db, acme), issued.row.id)
    assert keys.admit(db, issued.key).principal.tenant_id == globex


def test_operator_keys_have_no_tenant_and_tenant_keys_need_one(db: Session) -> None:
    operator = operators.issue(db, name="x")
    assert keys.admit(db, operator.key).principal.tenant_id is None
    with pytest.raises(InvalidRequest):
        keys.issue(Scope(db, _tenant(db)), keys.KeySpec(role=Role.OPERATOR, name="x"))


def test_operator_key_is_generated_once_or_taken_from_configuration(db: Session) -> None:
    generated = operators.ensure(db, None)
    assert generated is not None
    assert operators.ensure(db, None) is None
    assert keys.admit(db, generated).principal.role is Role.OPERATOR
    assert operators.ensure(db, "my-configured-operator-key") is None
    assert keys.admit(db, "my-configured-operator-key").principal.role is Role.OPERATOR


def test_a_new_configured_key_revokes_the_one_it_replaces(db: Session) -> None:
    assert operators.ensure(db, "first-configured-operator-key") is None
    other = operators.issue(db, name="break-glass")
    assert operators.ensure(db, "second-configured-operator-key") is None
    with pytest.raises(Unauthenticated):
        keys.admit(db, "first-configured-operator-key")
    assert keys.admit(db, "second-configured-operator-key").principal.role is Role.OPERATOR
    assert keys.admit(db, other.key).principal.role is Role.OPERATOR  # not configured: kept
    assert operators.ensure(db, "second-configured-operator-key") is None  # same: nothing
    events = db.scalars(select(AuditEvent).where(AuditEvent.tenant_id.is_(None))).all()
    rotations = [e for e in events if e.action == "operator_key.configured"]
    assert len(rotations) == 2
    assert len(rotations[1].details["revoked"]) == 1


def test_the_last_usable_operator_key_cannot_be_revoked(db: Session) -> None:
    first = operators.issue(db, name="one")
    second = operators.issue(db, name="two")
    operators.revoke(db, first.row.id)
    with pytest.raises(Conflict):
        operators.revoke(db, second.row.id)
    assert keys.admit(db, second.key).principal.role is Role.OPERATOR
    with pytest.raises(NotFound):
        operators.revoke(db, uuid.uuid4())
    tenant_key = keys.issue(Scope(db, _tenant(db)), keys.KeySpec(role=Role.ADMIN, name="a"))
    with pytest.raises(NotFound):  # a tenant's key is not an operator key
        operators.revoke(db, tenant_key.row.id)


def test_configuring_a_key_retires_the_generated_one_and_a_revoked_key_is_refused(
    db: Session,
) -> None:
    generated = operators.ensure(db, None)
    assert generated is not None
    operators.ensure(db, "the-first-configured-operator-key-000000")
    with pytest.raises(Unauthenticated):  # it was printed once: configuring replaces it
        keys.admit(db, generated)
    operators.ensure(db, "the-second-configured-operator-key-00000")
    with pytest.raises(Conflict):  # A -> B -> A: A was revoked, and stays so
        operators.ensure(db, "the-first-configured-operator-key-000000")
    second = keys.admit(db, "the-second-configured-operator-key-00000").principal
    assert second.role is Role.OPERATOR


def test_configuring_an_issued_operator_key_retires_the_configured_one(db: Session) -> None:
    operators.ensure(db, "the-configured-operator-key-0000000000000")
    spare = operators.issue(db, name="spare")
    operators.ensure(db, spare.key)
    with pytest.raises(Unauthenticated):
        keys.admit(db, "the-configured-operator-key-0000000000000")
    assert [k.name for k in operators.usable(db)] == [operators.CONFIGURED]
