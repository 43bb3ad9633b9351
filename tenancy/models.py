"""Tables of the isolation kernel: tenants, API keys and the audit log."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db import Base, utcnow
from tenancy.ids import new_id


class Tenant(Base):
    """A customer; everything else hangs off its id."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Operator overrides of the service-wide defaults; null means "use the default".
    rate_per_second: Mapped[float | None] = mapped_column(default=None)
    rate_burst: Mapped[int | None] = mapped_column(default=None)
    max_documents: Mapped[int | None] = mapped_column(default=None)
    max_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_chunks: Mapped[int | None] = mapped_column(default=None)
    # The JWKS whose keys sign the end-user assertions of the tenant's delegate keys.
    act_as_jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Set when its erasure began: from then on it is gone to every caller (`ingest.erasure`).
    erasing_at: Mapped[datetime | None] = mapped_column(default=None)


class TenantOwned:
    """Mixin for every tenant-owned table: a non-null, indexed `tenant_id`."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )


class ApiKey(Base):
    """A hashed API key; `tenant_id` is null only for operator keys."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # A reader key bound to an end user (and groups), or a delegate key that names one per
    # request; neither: a reader of tenant-wide documents only.
    user: Mapped[str | None] = mapped_column(String(256), default=None)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    delegate: Mapped[bool] = mapped_column(default=False, server_default=false())


class AuditEvent(Base):
    """One link of a tenant's hash-chained audit log (null tenant: the system chain)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq", name="uq_audit_tenant_seq"),
        Index("ix_audit_tenant_at", "tenant_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[uuid.UUID | None]
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    outcome: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
