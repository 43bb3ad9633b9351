"""The one funnel to tenant-owned SQL rows: every read adds `tenant_id = :caller`."""

import uuid
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tenancy import db
from tenancy.errors import NotFound
from tenancy.ids import TenantId
from tenancy.models import TenantOwned

T = TypeVar("T", bound=TenantOwned)


@dataclass(frozen=True)
class Scope:
    """A session bound to one tenant; the only way to reach that tenant's rows."""

    session: Session
    tenant_id: TenantId

    def select(self, model: type[T]) -> Select[T]:
        """`SELECT model WHERE tenant_id = :tenant`; add more `.where()`s to it."""
        return select(model).where(model.tenant_id == self.tenant_id)

    def get(self, model: type[T], row_id: uuid.UUID, *, kind: str) -> T:
        """The row with `row_id` in this tenant, or NotFound (also for other tenants' ids)."""
        row = self.find(model, row_id)
        if row is None:
            raise NotFound(kind)
        return row

    def find(self, model: type[T], row_id: uuid.UUID) -> T | None:
        """The row with `row_id` in this tenant, or None."""
        query = self.select(model).where(model.id == row_id)
        return self.session.scalars(query).one_or_none()

    def all(self, query: Select[T]) -> list[T]:
        """Run a query built from `select()`."""
        return list(self.session.scalars(query))

    def insert(self, row: T) -> T:
        """INSERT a new row now, stamped with this tenant (see `db.insert_row`)."""
        row.tenant_id = self.tenant_id
        db.insert_row(self.session, row)
        return row

    def add(self, row: T) -> T:
        """Add a new row, stamped with this tenant."""
        row.tenant_id = self.tenant_id
        self.session.add(row)
        return row
