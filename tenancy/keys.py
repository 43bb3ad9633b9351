"""API keys: high-entropy, prefix-identifiable, stored as SHA-256, compared in constant time."""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tenancy.db import utcnow
from tenancy.errors import InvalidRequest, NotFound, Unauthenticated
from tenancy.ids import TenantId
from tenancy.models import ApiKey
from tenancy.roles import TENANT_ROLES, Principal, Role

KEY_PREFIX = "ek_"
MAX_KEY_LENGTH = 256


@dataclass(frozen=True)
class IssuedKey:
    """A key as issued: the clear text exists only here, once."""

    row: ApiKey
    key: str


def hash_key(key: str) -> str:
    """SHA-256 hex of a key; keys have 256 bits of entropy, so no slow hash is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    """A new random key: `ek_` + 43 url-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def issue(
    session: Session,
    *,
    tenant_id: TenantId | None,
    role: Role,
    name: str,
    expires_at: datetime | None = None,
    key: str | None = None,
) -> IssuedKey:
    """Store a new key (hashed) and return it once in clear."""
    _check_role_fits(role, tenant_id)
    clear = key if key is not None else generate_key()
    row = ApiKey(
        tenant_id=tenant_id,
        role=role.value,
        name=name,
        prefix=clear[:10],
        key_hash=hash_key(clear),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return IssuedKey(row=row, key=clear)


def _check_role_fits(role: Role, tenant_id: TenantId | None) -> None:
    if (role is Role.OPERATOR) != (tenant_id is None):
        raise InvalidRequest("operator keys have no tenant; admin and reader keys need one")


def authenticate(session: Session, key: str | None) -> Principal:
    """The principal of `key`, or Unauthenticated for missing, unknown, revoked or expired keys."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unauthenticated("missing or malformed API key")
    digest = hash_key(key)
    row = session.execute(_BY_HASH, {"digest": digest}).one_or_none()
    # The lookup is by hash; the constant-time compare guards against a lookup that
    # matched loosely (collation, truncation) on some backend.
    if (
        row is None
        or not hmac.compare_digest(row.key_hash, digest)
        or not _usable(row.revoked_at, row.expires_at)
    ):
        raise Unauthenticated("invalid, revoked or expired API key")
    tenant = TenantId(row.tenant_id) if row.tenant_id is not None else None
    return Principal(key_id=row.id, role=Role(row.role), tenant_id=tenant)


# Every request runs it: columns, not the entity, in a statement built once.
_BY_HASH = select(
    ApiKey.id, ApiKey.role, ApiKey.tenant_id, ApiKey.key_hash, ApiKey.revoked_at, ApiKey.expires_at
).where(ApiKey.key_hash == bindparam("digest"))


def _usable(revoked_at: datetime | None, expires_at: datetime | None) -> bool:
    if revoked_at is not None:
        return False
    return expires_at is None or expires_at > utcnow()


def list_keys(session: Session, tenant_id: TenantId) -> list[ApiKey]:
    """The tenant's keys, newest first (hashes never leave this module's callers' schemas)."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at.desc())
    return list(session.scalars(query))


def revoke(session: Session, tenant_id: TenantId, key_id: uuid.UUID) -> ApiKey:
    """Revoke one of the tenant's keys; other tenants' ids are NotFound."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound("key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


def tenant_role(value: str) -> Role:
    """Parse a role that a tenant key may have."""
    role = Role(value)
    if role not in TENANT_ROLES:
        raise InvalidRequest("role must be admin or reader")
    return role


def ensure_operator_key(session: Session, configured: str | None) -> str | None:
    """Make sure an operator key exists; return a newly generated one (to print once)."""
    if configured:
        if _find_by_hash(session, hash_key(configured)) is None:
            issue(session, tenant_id=None, role=Role.OPERATOR, name="configured", key=configured)
        return None
    query = select(ApiKey).where(ApiKey.role == Role.OPERATOR.value, ApiKey.revoked_at.is_(None))
    if session.scalars(query).first() is not None:
        return None
    return issue(session, tenant_id=None, role=Role.OPERATOR, name="bootstrap").key


def _find_by_hash(session: Session, digest: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one_or_none()
