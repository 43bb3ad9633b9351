"""Roles and the principal resolved from a key."""

import enum
import uuid
from dataclasses import dataclass

from tenancy.access import Identity, caller_tokens
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
    """The caller, as decided by its credential alone (and, for a delegate key, the signed
    assertion of the end user it acts for)."""

    key_id: uuid.UUID
    role: Role
    tenant_id: TenantId | None
    identity: Identity | None = None
    delegate: bool = False

    def access_tokens(self) -> frozenset[str] | None:
        """The tokens a reader holds; None for admins, who read every document."""
        if self.role is not Role.READER:
            return None
        return caller_tokens(self.identity)

    def label(self) -> str:
        """Who searched, as the search record and its replay know it."""
        return self.identity.label() if self.identity else f"key:{self.key_id}"

    def require(self, *roles: Role) -> None:
        """Raise PermissionDenied unless the caller holds one of `roles`."""
        if self.role not in roles:
            raise PermissionDenied(f"this action needs the {' or '.join(roles)} role")

    def tenant(self) -> TenantId:
        """The caller's tenant; operators have none and may not touch tenant data."""
        if self.tenant_id is None:
            raise PermissionDenied("operator keys cannot access tenant data")
        return self.tenant_id
