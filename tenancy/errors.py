"""Tenancy errors: no HTTP here; `api/errors.py` maps them to status codes."""


class TenancyError(Exception):
    """Base class of every tenancy error."""


class NotFound(TenancyError):
    """Absent, or owned by another tenant: callers cannot tell which."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind


class Unauthenticated(TenancyError):
    """No key, an unknown key, a revoked or an expired key."""


class PermissionDenied(TenancyError):
    """The caller's role is too low for the action."""


class Conflict(TenancyError):
    """The action conflicts with the current state."""


class InvalidRequest(TenancyError):
    """A value the caller sent is not acceptable."""


class IsolationViolation(TenancyError):
    """Data of another tenant reached a result: the request fails closed."""


class RateLimited(TenancyError):
    """Too many requests; `retry_after` seconds until the next one is admitted."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry after {retry_after} s")
        self.retry_after = max(1, retry_after)


class QuotaExceeded(TenancyError):
    """The tenant's storage quota would be exceeded; nothing was stored."""


class StoreUnavailable(TenancyError):
    """The metadata store cannot take a write now (its writer is stopping or stuck)."""
