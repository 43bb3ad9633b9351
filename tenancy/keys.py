"""API keys: high-entropy, prefix-identifiable, stored as SHA-256, compared in constant time."""

import functools
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tenancy import driver, system, tenants
from tenancy.access import Identity
from tenancy.db import utcnow
from tenancy.errors import InvalidRequest, NotFound, Unauthenticated
from tenancy.ids import TenantId
from tenancy.models import ApiKey, Tenant
from tenancy.roles import TENANT_ROLES, Principal, Role
from tenancy.scope import AnySelect, Scope

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


@dataclass(frozen=True)
class KeySpec:
    """What a new tenant key is: its role, name and expiry, and whom a reader reads for."""

    role: Role
    name: str
    expires_at: datetime | None = None
    identity: Identity | None = None
    delegate: bool = False


def issue(scope: Scope, spec: KeySpec) -> IssuedKey:
    """Store a new admin or reader key of the scope's tenant (hashed); return it once in clear."""
    _check(spec)
    clear = generate_key()
    row = new_row(clear, spec.role, spec.name, spec.expires_at)
    if spec.identity is not None:
        row.user, row.groups = spec.identity.user, list(spec.identity.groups)
    row.delegate = spec.delegate
    scope.add(row)
    scope.flush()
    return IssuedKey(row=row, key=clear)


def _check(spec: KeySpec) -> None:
    if spec.role not in TENANT_ROLES:
        raise InvalidRequest("operator keys have no tenant; a tenant key is admin or reader")
    if spec.role is Role.ADMIN and (spec.identity is not None or spec.delegate):
        raise InvalidRequest("an admin key reads every document: it takes no user or groups")
    if spec.delegate and spec.identity is not None:
        raise InvalidRequest("a delegate key names its user per request: give no user or groups")


def new_row(clear: str, role: Role, name: str, expires_at: datetime | None) -> ApiKey:
    return ApiKey(
        role=role.value,
        name=name,
        prefix=clear[:10],
        key_hash=hash_key(clear),
        expires_at=expires_at,
    )


def issue_for_tenant(session: Session, tenant_id: uuid.UUID, spec: KeySpec) -> IssuedKey:
    """The operator's way to issue a tenant's key: NotFound for a tenant that does not exist."""
    tenant = tenants.get(session, tenant_id)
    return issue(Scope(session, TenantId(tenant.id)), spec)


@dataclass(frozen=True)
class Admission:
    """A usable key: its principal, and its tenant's own request rate, read with it (one
    statement per request, not two; None for an operator key)."""

    principal: Principal
    tenant_rate: tenants.RateOverride | None


def admit(session: Session, key: str | None) -> Admission:
    """The principal of `key` with its tenant's rate, or Unauthenticated for missing,
    unknown, revoked or expired keys (NotFound if the key's tenant is gone)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unauthenticated("missing or malformed API key")
    digest = hash_key(key)
    # Every request runs it: on the session's connection's driver (`tenancy.driver`), after
    # what the session holds is sent, as the ORM would. The hash is unique: one row or none.
    session.flush()
    found = driver.rows(session.connection(), _by_hash(), {"digest": digest})
    row = found[0] if found else None
    # The lookup is by hash; the constant-time compare guards against a lookup that
    # matched loosely (collation, truncation) on some backend.
    if (
        row is None
        or not hmac.compare_digest(row["key_hash"], digest)
        or not _usable(row["revoked_at"], row["expires_at"])
    ):
        raise Unauthenticated("invalid, revoked or expired API key")
    return _admission(row)


def _admission(row: Mapping[str, Any]) -> Admission:
    """A usable key's row: its principal and its tenant's rate."""
    tenant = TenantId(row["tenant_id"]) if row["tenant_id"] is not None else None
    identity = (
        Identity(row["user"], tuple(row["groups"] or ())) if row["user"] is not None else None
    )
    principal = Principal(
        key_id=row["id"],
        role=Role(row["role"]),
        tenant_id=tenant,
        identity=identity,
        delegate=bool(row["delegate"]),
    )
    if tenant is None:
        return Admission(principal, None)
    if row["tenant_found"] is None:
        raise NotFound("tenant")
    return Admission(principal, tenants.RateOverride(row["rate_per_second"], row["rate_burst"]))


@system.wide("the key decides the tenant: until it is found there is no tenant to scope by")
@functools.cache
def _by_hash() -> AnySelect:
    # Every request runs it: columns, not the entity, in a statement built once; the key's
    # tenant's rate comes with it.
    return (
        select(
            ApiKey.id,
            ApiKey.role,
            ApiKey.tenant_id,
            ApiKey.key_hash,
            ApiKey.revoked_at,
            ApiKey.expires_at,
            ApiKey.user,
            ApiKey.groups,
            ApiKey.delegate,
            Tenant.id.label("tenant_found"),
            Tenant.rate_per_second,
            Tenant.rate_burst,
        )
        .outerjoin(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash == bindparam("digest"))
    )


def _usable(revoked_at: datetime | None, expires_at: datetime | None) -> bool:
    if revoked_at is not None:
        return False
    return expires_at is None or expires_at > utcnow()


def check_usable(scope: Scope, key_id: uuid.UUID | None) -> None:
    """Unauthenticated unless the key is still this tenant's, unrevoked and unexpired (for
    what outlives a request: an event stream)."""
    row = scope.find(ApiKey, key_id) if key_id is not None else None
    if row is None or not _usable(row.revoked_at, row.expires_at):
        raise Unauthenticated("invalid, revoked or expired API key")


def list_keys(scope: Scope) -> list[ApiKey]:
    """The tenant's keys, newest first (hashes never leave this module's callers' schemas)."""
    return scope.all(scope.select(ApiKey).order_by(ApiKey.created_at.desc()))


def revoke(scope: Scope, key_id: uuid.UUID) -> ApiKey:
    """Revoke one of the tenant's keys; other tenants' ids are NotFound."""
    row = scope.find(ApiKey, key_id)
    if row is None:
        raise NotFound("key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    scope.flush()
    return row


def tenant_role(value: str) -> Role:
    """Parse a role that a tenant key may have."""
    role = Role(value)
    if role not in TENANT_ROLES:
        raise InvalidRequest("role must be admin or reader")
    return role
