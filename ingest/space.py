"""Free disk space: below a reserve, nothing new is written, and what is there stays readable.

A full disk is worse than a refused upload: SQLite stops committing, and a memory-mapped
index page written on a full filesystem kills the process (SIGBUS). So every writer asks
first: uploads and syncs answer 507, workers leave documents queued until space returns.
"""

import errno
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import InsufficientStorage

log = logging.getLogger("enclave.space")

# The operating system's words for "the disk is full", in the places it can surface.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded")


FLOOR_BYTES = 64 << 20


@dataclass
class Disk:
    """The filesystems the service writes to, and the free bytes each must keep."""

    paths: tuple[Path, ...]
    reserve_bytes: int
    _warned: bool = field(default=False, init=False)

    def free(self) -> int:
        """The fewest free bytes among the filesystems (of the nearest existing folder);
        without any, no limit."""
        return min((_free(path) for path in self.paths), default=sys.maxsize)

    def low(self) -> bool:
        """True when any filesystem is below the reserve (logged once per episode)."""
        low = self.free() < self.reserve_bytes
        if low and not self._warned:
            log.warning("free disk space below the %d MB reserve", self.reserve_bytes >> 20)
        self._warned = low
        return low

    @property
    def floor_bytes(self) -> int:
        """Below this (64 MB, or the reserve if smaller) nothing is written at all, not even a
        search's record: opening a shard of the index touches pages of its memory-mapped,
        sparse files (32 MB each), and a page the filesystem cannot give is a SIGBUS."""
        return min(self.reserve_bytes, FLOOR_BYTES)

    def check_floor(self) -> None:
        """InsufficientStorage when the disk is all but full (below `floor_bytes`)."""
        if self.free() < self.floor_bytes:
            raise InsufficientStorage(
                "the server's disk is full; retry when an operator has freed space"
            )

    def check(self, incoming: int = 0) -> None:
        """InsufficientStorage when writing `incoming` more bytes would eat into the reserve."""
        free = self.free()
        if free - incoming < self.reserve_bytes:
            raise InsufficientStorage(
                f"the server is low on disk space ({free >> 20} MB free, "
                f"{self.reserve_bytes >> 20} MB reserved); retry when an operator has freed some"
            )


def unlimited() -> Disk:
    """A Disk that never refuses (tests and tools that write nothing)."""
    return Disk(paths=(), reserve_bytes=0)


def _free(path: Path) -> int:
    for candidate in _nearest_first(path):
        try:
            stats = os.statvfs(candidate)
        except FileNotFoundError:
            continue
        return stats.f_bavail * stats.f_frsize
    return 0


def _nearest_first(path: Path) -> Iterator[Path]:
    """`path`, then its parents: resolved only when `path` is missing (every search asks,
    and the folder is there)."""
    yield path
    yield from path.resolve().parents


def is_full(exc: BaseException) -> bool:
    """Whether `exc`, or what caused it, is the disk being full."""
    for cause in _chain(exc):
        if isinstance(cause, OSError) and cause.errno in _FULL_ERRNOS:
            return True
        if any(words in str(cause).lower() for words in _FULL_MESSAGES):
            return True
    return False


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
