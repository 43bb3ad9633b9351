"""Operator keys: they belong to no tenant, so every path here is system-wide.

`ENCLAVE_OPERATOR_KEY` names the key the service starts with; changing it revokes the key it
replaces (audited on the system chain). Operators list, issue and revoke keys; the last
usable operator key cannot be revoked, so the service never locks its operators out.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenancy import audit, system
from tenancy.db import utcnow
from tenancy.errors import Conflict, NotFound
from tenancy.keys import IssuedKey, generate_key, hash_key, new_row
from tenancy.models import ApiKey
from tenancy.roles import Role

CONFIGURED = "configured"  # the name of the key ENCLAVE_OPERATOR_KEY sets
BOOTSTRAP = "bootstrap"  # the key generated (and printed once) when none is configured
_STARTUP = audit.Actor(None, "startup")


@system.wide("operator keys belong to no tenant")
def issue(session: Session, *, name: str, key: str | None = None) -> IssuedKey:
    """Store a new operator key (hashed; `key` to choose it) and return it once in clear."""
    clear = key if key is not None else generate_key()
    row = new_row(clear, Role.OPERATOR, name, None)
    session.add(row)
    session.flush()
    return IssuedKey(row=row, key=clear)


@system.wide("operator keys belong to no tenant")
def list_all(session: Session, *, lock: bool = False) -> list[ApiKey]:
    """Every operator key, newest first, revoked ones included (`lock`: FOR UPDATE, so that
    two revocations cannot both leave the other as the last key)."""
    query = select(ApiKey).where(ApiKey.role == Role.OPERATOR.value)
    query = query.order_by(ApiKey.created_at.desc())
    return list(session.scalars(query.with_for_update() if lock else query))


def usable(session: Session) -> list[ApiKey]:
    """The operator keys that authenticate."""
    return [k for k in list_all(session) if k.revoked_at is None]


def revoke(session: Session, key_id: uuid.UUID) -> ApiKey:
    """Revoke an operator key: NotFound for any other id, Conflict for the last usable one."""
    keys = list_all(session, lock=True)
    row = next((k for k in keys if k.id == key_id), None)
    if row is None:
        raise NotFound("key")
    if row.revoked_at is None:
        if [k.id for k in keys if k.revoked_at is None] == [row.id]:
            raise Conflict("the last operator key cannot be revoked: issue another first")
        row.revoked_at = utcnow()
        session.flush()
    return row


def ensure(session: Session, configured: str | None) -> str | None:
    """Make sure an operator key exists; return a newly generated one (to print once).

    A configured key replaces (revokes) the configured or generated key before it, audited;
    a configured key that was revoked is refused (Conflict): configure a new one."""
    if configured:
        _configure(session, configured)
        return None
    if usable(session):
        return None
    return issue(session, name=BOOTSTRAP).key


def _configure(session: Session, configured: str) -> None:
    found = _by_digest(session, hash_key(configured))
    if found is not None and found.revoked_at is not None:
        raise Conflict(
            "ENCLAVE_OPERATOR_KEY names a revoked operator key: configure a new one "
            "(it replaces the key before it)"
        )
    key = found if found is not None else issue(session, name=CONFIGURED, key=configured).row
    replaced = [k for k in usable(session) if k.name in (CONFIGURED, BOOTSTRAP) and k.id != key.id]
    if found is not None and found.name == CONFIGURED and not replaced:
        return  # the same key as last time: nothing changes
    key.name = CONFIGURED
    for old in replaced:
        old.revoked_at = utcnow()
    session.flush()
    entry = audit.Entry(
        action="operator_key.configured",
        targets=[str(key.id)],
        details={"revoked": [str(k.id) for k in replaced], "new": found is None},
    )
    audit.record(session, None, _STARTUP, entry)


def _by_digest(session: Session, digest: str) -> ApiKey | None:
    return next((k for k in list_all(session) if k.key_hash == digest), None)
