"""What a backup is on disk: its layout, its manifest, and the errors of backup and restore.

PATH/manifest.json           format, revision, embedding, counts, every file's fingerprint
PATH/enclave.db              the metadata database (SQLite online backup)
PATH/edge/<tenant>/ ...      each tenant's Qdrant Edge shard (+ `<tenant>.hnsw`)
PATH/blobs/<tenant>/<ab>/<sha256>   the original files the database refers to
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from api.settings import Settings
from retrieval import edge_files

FORMAT = "enclave-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "enclave.db"
EDGE = "edge"
BLOBS = "blobs"
SIGNING = "signing"
ANCHORS = "anchors"


class BackupError(Exception):
    """Base class of every backup and restore error."""


class BackupUnsupported(BackupError):
    """The deployment is not the embedded default (SQLite + Qdrant Edge)."""


class InvalidBackupPath(BackupError):
    """The backup target is not an absolute path inside the backup folder."""


class BackupExists(BackupError):
    """The backup target already holds something."""


class InvalidBackup(BackupError):
    """The folder is not a complete, intact backup this version can restore."""


class RestoreRefused(BackupError):
    """The data dir already holds data (and `--force` was not given)."""


@dataclass(frozen=True)
class Layout:
    """Where the embedded stores of a deployment live (as `services.build` places them)."""

    database: Path
    edge: Path
    blobs: Path
    signing: Path
    anchors: Path


def layout(settings: Settings) -> Layout:
    """The stores to back up or restore into; refuses anything but the embedded default."""
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise BackupUnsupported(_UNSUPPORTED)
    if settings.qdrant_url:
        raise BackupUnsupported(_UNSUPPORTED)
    return Layout(
        Path(str(url.database)),
        settings.data_dir / EDGE,
        settings.blobs_path,
        settings.signing_path,
        settings.anchors_path,
    )


_UNSUPPORTED = (
    "backup and restore cover the embedded default (SQLite + Qdrant Edge); with PostgreSQL "
    "or a Qdrant server, use pg_dump and Qdrant snapshots"
)


def backup_root(settings: Settings) -> Path:
    """The only folder backups may be written into (`ENCLAVE_BACKUP_DIR`)."""
    return (settings.backup_dir or settings.data_dir.resolve().parent / "backups").resolve()


@dataclass(frozen=True)
class Counts:
    """What a backup holds."""

    tenants: int
    documents: int
    chunks: int
    shards: int
    blobs: int
    bytes: int


def file_digests(root: Path) -> dict[str, dict[str, Any]]:
    """Size and fingerprint of every file under `root`, by path relative to it."""
    return {
        path.relative_to(root).as_posix(): _digest(path)
        for path in sorted(p for p in root.rglob("*") if p.is_file())
    }


def fingerprint(path: Path) -> str:
    """SHA-256 over the file's 1 MiB blocks, an all-zero block standing for itself: the same
    for a sparse copy (holes are never read) and a dense one."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        digest.update(size.to_bytes(8, "big"))
        touched = _blocks_with_data(handle.fileno(), size)
        for index in range(-(-size // BLOCK)):
            block = os.pread(handle.fileno(), BLOCK, index * BLOCK) if index in touched else b""
            zero = not block.strip(b"\0")
            digest.update(b"Z" if zero else b"D" + hashlib.sha256(block).digest())
    return digest.hexdigest()


BLOCK = 1 << 20


def _blocks_with_data(fd: int, size: int) -> set[int]:
    return {
        index
        for start, end in edge_files.data_ranges(fd, size)
        for index in range(start // BLOCK, -(-end // BLOCK))
    }


def write(root: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest last: a folder without one is not a backup."""
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read(root: Path) -> dict[str, Any]:
    """The manifest of the backup at `root`, checked for format and completeness."""
    path = root / MANIFEST
    if not path.is_file():
        raise InvalidBackup(
            f"{root} has no {MANIFEST}: not an Enclave backup, or an unfinished one"
        )
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBackup(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidBackup(f"{path} is not an Enclave backup manifest")
    if manifest.get("version") != VERSION:
        raise InvalidBackup(f"backup format version {manifest.get('version')!r} is not {VERSION}")
    files = manifest.get("files")
    if not isinstance(files, dict) or DATABASE not in files:
        raise InvalidBackup(f"{path} lists no database")
    counts(manifest)
    return manifest


def counts(manifest: dict[str, Any]) -> Counts:
    """The manifest's counts."""
    try:
        return Counts(**manifest["counts"])
    except (KeyError, TypeError) as exc:
        raise InvalidBackup(f"the manifest's counts are unreadable: {exc}") from exc


def verify(root: Path, manifest: dict[str, Any]) -> None:
    """Exactly the files the manifest lists are there, each with its size and fingerprint."""
    listed: dict[str, Any] = manifest["files"]
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    extra = sorted(present - set(listed) - {MANIFEST})
    if extra:
        raise InvalidBackup(f"{extra[0]} is in the backup folder but not in its manifest")
    for name, expected in listed.items():
        if name not in present:
            raise InvalidBackup(f"{name} is missing from the backup")
        if not isinstance(expected, dict) or _digest(root / name) != expected:
            raise InvalidBackup(f"{name} is damaged: it differs from the manifest")


def _digest(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "digest": fingerprint(path)}
