"""Typed identifiers: every id in Enclave is a random UUID."""

import uuid
from typing import NewType

TenantId = NewType("TenantId", uuid.UUID)


def new_id() -> uuid.UUID:
    """A fresh random (v4) id."""
    return uuid.uuid4()


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID in `value`, or None when it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
