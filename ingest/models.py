"""Ingestion records: a job per upload, a run per sync of a source, and their items."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db import Base, text_enum, utcnow
from tenancy.models import TenantOwned


class Job(TenantOwned, Base):
    """An upload's ingestion; its status and progress are derived from its items' documents."""

    __tablename__ = "jobs"

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobItem(TenantOwned, Base):
    """One document named by an upload (a duplicate upload points at the existing one)."""

    __tablename__ = "job_items"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    duplicate: Mapped[bool] = mapped_column(default=False)


class RunStatus(enum.StrEnum):
    """Where a sync run is: `open` until its uploads are committed; `abandoned` when a newer
    run replaced it before that (nothing of it was erased)."""

    OPEN = "open"
    COMMITTED = "committed"
    ABANDONED = "abandoned"


class SyncAction(enum.StrEnum):
    """What a run does to one path."""

    ADD = "add"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    RENAME = "rename"
    ERASE = "erase"
    KEEP = "keep"  # left the source, kept because the run does not prune


class SyncState(enum.StrEnum):
    """How far one path of a run got."""

    NEEDED = "needed"  # the server waits for its bytes
    UPLOADED = "uploaded"  # accepted: a new version is queued for indexing
    PENDING = "pending"  # a rename or erasure, applied when the run commits
    DONE = "done"
    FAILED = "failed"


class SyncRun(TenantOwned, Base):
    """One sync of a source: who ran it, when, against which manifest, and what it did."""

    __tablename__ = "sync_runs"

    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), index=True
    )
    key_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    status: Mapped[RunStatus] = mapped_column(text_enum(RunStatus), default=RunStatus.OPEN)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    prune: Mapped[bool] = mapped_column(default=True)
    files: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    committed_at: Mapped[datetime | None] = mapped_column(default=None)


class SyncEntry(TenantOwned, Base):
    """One path of a run: its action, how far it got, its document, and an erasure's receipt."""

    __tablename__ = "sync_entries"
    __table_args__ = (Index("ix_sync_entries_run_path", "run_id", "path"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    action: Mapped[SyncAction] = mapped_column(text_enum(SyncAction))
    state: Mapped[SyncState] = mapped_column(text_enum(SyncState))
    # Not a foreign key: the record outlives an erased document (its receipt says so).
    document_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    renamed_from: Mapped[str | None] = mapped_column(String(1024), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
