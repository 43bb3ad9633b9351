"""A consistent snapshot of the embedded stores, taken inside the running server.

Only the server may touch its Edge shards, so it makes the copy. While it does, the write
gate holds back index writes and the SQL that goes with them (ingestion's store step,
erasures); searches, reads and uploads go on. Under the gate: the SQLite online backup,
then each shard (flushed, copied under its lock), then the original files the copied
database refers to (they are immutable, and deleting them waits for the gate). The copy is
assembled under a hidden name and renamed into place after its manifest is written.
"""

import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, func, select

from api.ops import manifest as bm
from api.services import Services
from api.settings import Settings
from ingest import leases
from retrieval.edge import EdgeIndex
from retrieval.models import Chunk, Document
from tenancy import system
from tenancy.ids import TenantId
from tenancy.models import Tenant

log = logging.getLogger("enclave.backup")


@dataclass(frozen=True)
class Receipt:
    """What a backup wrote."""

    path: Path
    created_at: datetime
    revision: str | None
    counts: bm.Counts
    seconds: float


def create(services: Services, raw_path: str) -> Receipt:
    """Snapshot database, index and original files into the new folder `raw_path`."""
    bm.layout(services.settings)
    if not isinstance(services.index, EdgeIndex):
        raise bm.BackupUnsupported("the index is not the embedded Qdrant Edge engine")
    path = target(services.settings, raw_path)
    began, created_at = time.perf_counter(), datetime.now(UTC)
    work = _work_dir(path)
    try:
        with services.gate.paused():
            shards, missing = _snapshot(services, services.index, work)
        manifest = _manifest(services, work, created_at, shards=shards, missing=missing)
        bm.write(work, manifest)
        _publish(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    counts = bm.Counts(**manifest["counts"])
    seconds = round(time.perf_counter() - began, 3)
    return Receipt(path, created_at, manifest["revision"], counts, seconds)


def target(settings: Settings, raw: str) -> Path:
    """The backup folder to create: absolute, new (or empty), inside the backup root."""
    if "\x00" in raw or not Path(raw).is_absolute():
        raise bm.InvalidBackupPath(f"the backup path must be absolute, not {raw!r}")
    root, path = bm.backup_root(settings), Path(raw).resolve()
    if path == root or not path.is_relative_to(root):
        raise bm.InvalidBackupPath(
            f"the backup path must be a new folder inside {root} (ENCLAVE_BACKUP_DIR)"
        )
    if path.is_relative_to(settings.data_dir.resolve()):
        raise bm.InvalidBackupPath("the backup path must be outside the data dir")
    try:
        taken = path.exists() and (not path.is_dir() or any(path.iterdir()))
    except OSError as exc:  # a name too long, a file where a folder should be, ...
        raise bm.InvalidBackupPath(f"cannot use {path}: {exc.strerror}") from exc
    if taken:
        raise bm.BackupExists(f"{path} already exists and is not an empty folder")
    return path


def _work_dir(path: Path) -> Path:
    """A hidden sibling of `path` to assemble the copy in: never mistaken for a backup."""
    work = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        work.mkdir(parents=True)
    except OSError as exc:
        raise bm.InvalidBackupPath(f"cannot create a folder at {path}: {exc.strerror}") from exc
    return work


def _snapshot(services: Services, index: EdgeIndex, work: Path) -> tuple[int, int]:
    """Under the gate: database, shards, then the files the database refers to."""
    _copy_database(services.engine, work / bm.DATABASE)
    shards = index.snapshot(work / bm.EDGE)
    missing = 0
    for tenant_id, sha in _referenced_blobs(work / bm.DATABASE):
        source = services.blobs.path(tenant_id, sha)
        copy = work / bm.BLOBS / tenant_id.hex / sha[:2] / sha
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(source, copy)
        except FileNotFoundError:
            log.warning(
                "original file %s of tenant %s is missing; not in the backup", sha, tenant_id
            )
            missing += 1
    _copy_proofs(services, work)
    return shards, missing


def _copy_proofs(services: Services, work: Path) -> None:
    """The signing keys (receipts must keep verifying) and the audit checkpoints."""
    stores = bm.layout(services.settings)
    for name, folder in ((bm.SIGNING, stores.signing), (bm.ANCHORS, stores.anchors)):
        if folder.is_dir():
            shutil.copytree(folder, work / name)


def _copy_database(engine: Engine, dest: Path) -> None:
    """SQLite's online backup: a consistent copy while other connections keep writing."""
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        copy = sqlite3.connect(dest)
        try:
            source.backup(copy)
            # A single self-contained file: no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        raw.close()


@system.wide("a backup copies every tenant's original files")
def _referenced_blobs(database: Path) -> list[tuple[TenantId, str]]:
    with _open(database) as connection:
        rows = connection.execute(select(Document.tenant_id, Document.sha256).distinct())
        return [(TenantId(tenant), sha) for tenant, sha in rows]


@contextmanager
def _open(database: Path) -> Iterator[Connection]:
    """A connection to the copy (not through `make_engine`: no WAL files beside it)."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _manifest(
    services: Services, work: Path, created_at: datetime, *, shards: int, missing: int
) -> dict[str, Any]:
    """Requeue interrupted work in the copy, count it, and list every file's digest."""
    with _open(work / bm.DATABASE) as connection:
        # Whoever was indexing these is not coming back for the restored copy.
        leases.requeue_orphans(connection)
        connection.commit()
        revision = MigrationContext.configure(connection).get_current_revision()
        rows = _counts(connection)
    files = bm.file_digests(work)
    blobs = sum(1 for name in files if name.startswith(f"{bm.BLOBS}/"))
    # What it takes on disk: shard files are sparse, their apparent size is mostly holes.
    size = sum(p.stat().st_blocks * 512 for p in work.rglob("*") if p.is_file())
    counts = bm.Counts(**rows, shards=shards, blobs=blobs, bytes=size)
    return {
        "format": bm.FORMAT,
        "version": bm.VERSION,
        "created_at": created_at.isoformat(),
        "revision": revision,
        "embedding": _embedding(services),
        "counts": asdict(counts),
        "missing_blobs": missing,
        "files": files,
    }


@system.wide("a backup's receipt counts every tenant's rows (counts only)")
def _counts(connection: Connection) -> dict[str, int]:
    counted = {"tenants": Tenant, "documents": Document, "chunks": Chunk}
    return {
        name: int(connection.scalar(select(func.count()).select_from(model)) or 0)
        for name, model in counted.items()
    }


def _embedding(services: Services) -> dict[str, Any]:
    settings, embedder = services.settings, services.embedder
    return {
        "model": settings.embedding_model,
        "backend": settings.embedding_backend,
        "name": embedder.name,
        "dimension": embedder.dimension,
    }


def _publish(work: Path, path: Path) -> None:
    """Rename the finished copy into place (an empty folder there is replaced)."""
    try:
        os.replace(work, path)
    except OSError as exc:
        raise bm.BackupExists(f"{path} appeared while the backup ran") from exc
