"""A sync's manifest: every file of a source as (path, sha256, size), checked before use.

Paths are POSIX, `/`-separated, relative and NFC-normalised: the same name typed on macOS
(NFD) and on Linux (NFC) is one path. A manifest that names a path twice (also after
normalisation), climbs out with `..`, is absolute, carries a NUL or another control
character, or is longer than the service allows is refused whole, naming the entry.
"""

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from ingest.errors import InvalidManifest

MAX_PATH = 1024
HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Entry:
    """One file of the source as the client sees it."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The checked entries, in path order, and a hash that identifies the whole manifest."""

    entries: tuple[Entry, ...]
    sha256: str

    def by_path(self) -> dict[str, Entry]:
        """The entries by path."""
        return {entry.path: entry for entry in self.entries}


def check(raw: Sequence[Entry], *, max_entries: int, max_bytes: int) -> Manifest:
    """The manifest of `raw` entries, or InvalidManifest naming the first bad one."""
    if len(raw) > max_entries:
        raise InvalidManifest(f"the manifest has {len(raw)} entries; the limit is {max_entries}")
    seen: set[str] = set()
    entries = []
    for index, item in enumerate(raw):
        entry = _entry(item, index, max_bytes)
        if entry.path in seen:
            raise InvalidManifest(f"entry {index}: the path {entry.path!r} is listed twice")
        seen.add(entry.path)
        entries.append(entry)
    entries.sort(key=lambda e: e.path)
    return Manifest(tuple(entries), _digest(entries))


def normal_path(raw: str) -> str:
    """A path as a source stores it (NFC, `/`-separated, relative), or InvalidManifest."""
    if not raw or any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise InvalidManifest(f"{raw!r}: a path must be non-empty, without control characters")
    path = unicodedata.normalize("NFC", raw.replace("\\", "/"))
    parts = PurePosixPath(path).parts
    if path.startswith("/") or (parts and ":" in parts[0]):
        raise InvalidManifest(f"{raw!r}: a path must be relative to the source")
    if any(part in ("..", ".") for part in path.split("/")) or path.endswith("/"):
        raise InvalidManifest(f"{raw!r}: a path may not contain '.' or '..' or end with '/'")
    if "//" in path or len(path.encode()) > MAX_PATH:
        raise InvalidManifest(f"{raw[:80]!r}: empty folder names or longer than {MAX_PATH} bytes")
    return path


def _entry(item: Entry, index: int, max_bytes: int) -> Entry:
    try:
        path = normal_path(item.path)
    except InvalidManifest as exc:
        raise InvalidManifest(f"entry {index}: {exc}") from exc
    digest = item.sha256.lower()
    if len(digest) != 64 or not set(digest) <= HEX:
        raise InvalidManifest(f"entry {index} ({path!r}): sha256 must be 64 hex digits")
    if not 0 <= item.size <= max_bytes:
        raise InvalidManifest(f"entry {index} ({path!r}): size must be 0..{max_bytes} bytes")
    return Entry(path, digest, item.size)


def _digest(entries: Sequence[Entry]) -> str:
    canonical = json.dumps([[e.path, e.sha256, e.size] for e in entries], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
