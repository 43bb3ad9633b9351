"""Ingestion jobs: one per upload, listing every document the upload named."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db import Base, utcnow
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
