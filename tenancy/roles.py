"""Roles and the principal resolved from a key."""

import enum
import uuid
from dataclasses import dataclass

from tenancy.errors import PermissionDenied
from tenancy.ids import TenantId


class Role(enum.StrEnum):
    """Who a key speaks for."""

    OPERATOR = "operator"
    ADMIN = "admin"
    READER = "reader"


TENANT_ROLES = frozenset({Role.ADMIN, Role.READER})


@dataclass(frozen=True)
class Principal:
    """The caller, as decided by its credential alone."""

    key_id: uuid.UUID
    role: Role
    tenant_id: TenantId | None

    def require(self, *roles: Role) -> None:
        """Raise PermissionDenied unless the caller holds one of `roles`."""
        if self.role not in roles:
            raise PermissionDenied(f"this action needs the {' or '.join(roles)} role")

    def tenant(self) -> TenantId:
        """The caller's tenant; operators have none and may not touch tenant data."""
        if self.tenant_id is None:
            raise PermissionDenied("operator keys cannot access tenant data")
        return self.tenant_id
