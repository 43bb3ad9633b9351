"""The few paths that read or write tenant-owned rows across tenants, each with its reason.

Everything else reaches tenant data through `tenancy.scope`. A function that must cross
tenants says so with `@system.wide("why")`; `tests/test_architecture.py` exempts exactly
the functions so marked, and holds the reviewed list of them, so a new side door cannot
open without a reviewer reading its reason.
"""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_PATHS: dict[str, str] = {}


def wide(reason: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a function as a system-wide path: it may touch every tenant's rows."""
    if not reason.strip():
        raise ValueError("a system-wide path needs its reason")

    def mark(function: Callable[P, R]) -> Callable[P, R]:
        _PATHS[f"{function.__module__}.{function.__qualname__}"] = reason
        return function

    return mark


def paths() -> dict[str, str]:
    """Every system-wide path imported so far, by qualified name, with its reason."""
    return dict(sorted(_PATHS.items()))
