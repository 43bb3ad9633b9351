"""Access inside a tenant: a document's access list, a caller's identity, and their tokens.

A document's access is either tenant-wide (no list) or a list of users and groups; an empty
list means admins only. Both sides meet as tokens: a document carries `*` (tenant-wide) or
`u:<user>` and `g:<group>` tokens; a caller holds `*` plus the tokens of its identity, and
may read a document when the two share a token. Admins are unrestricted (no tokens at all).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from tenancy.errors import InvalidRequest

TENANT_WIDE = "*"
USER, GROUP = "u:", "g:"
MAX_NAME = 256
MAX_NAMES = 200


@dataclass(frozen=True)
class Access:
    """Who may read a document besides admins: these users and these groups."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """The end user a caller acts for: a user name and the groups it belongs to."""

    user: str
    groups: tuple[str, ...] = ()

    def label(self) -> str:
        """How searches and audit events name this identity."""
        return f"user:{self.user}"


def names(raw: Iterable[str], what: str) -> tuple[str, ...]:
    """Checked user or group names, deduplicated in order."""
    out = tuple(dict.fromkeys(raw))
    if len(out) > MAX_NAMES:
        raise InvalidRequest(f"at most {MAX_NAMES} {what}")
    for name in out:
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
            raise InvalidRequest(f"{what}: {name[:40]!r} must be 1-{MAX_NAME} printable characters")
    return out


def document_tokens(access: Access | None) -> tuple[str, ...]:
    """The tokens a document carries: `*` for tenant-wide, else its users' and groups'."""
    if access is None:
        return (TENANT_WIDE,)
    users, groups = sorted(set(access.users)), sorted(set(access.groups))
    return tuple(USER + u for u in users) + tuple(GROUP + g for g in groups)


def access_of(tokens: Iterable[str]) -> Access | None:
    """A document's access from its tokens (the inverse of `document_tokens`)."""
    held = list(tokens)
    if TENANT_WIDE in held:
        return None
    users = tuple(t[len(USER) :] for t in held if t.startswith(USER))
    groups = tuple(t[len(GROUP) :] for t in held if t.startswith(GROUP))
    return Access(users, groups)


def caller_tokens(identity: Identity | None) -> frozenset[str]:
    """What a restricted caller holds: tenant-wide documents, and its identity's."""
    if identity is None:
        return frozenset({TENANT_WIDE})
    groups = {GROUP + g for g in identity.groups}
    return frozenset({TENANT_WIDE, USER + identity.user, *groups})


def may_read(held: frozenset[str] | None, carried: Iterable[str]) -> bool:
    """Whether a caller holding `held` (None: unrestricted) may read what carries `carried`."""
    return held is None or not held.isdisjoint(carried)
