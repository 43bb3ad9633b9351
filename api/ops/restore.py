"""Restore a backup into the configured data dir, offline (the server must be stopped).

The backup is checked first (manifest, migration revision, every file's fingerprint), then
copied into a staging folder inside the data dir and moved into place, so a failed copy
leaves the data dir as it was.
"""

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from api.ops import manifest as bm
from api.ops import migrate
from api.settings import Settings
from retrieval import edge_files


@dataclass(frozen=True)
class Restored:
    """What a restore put in place."""

    counts: bm.Counts
    created_at: str
    revision: str
    head: str | None
    replaced: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def needs_migration(self) -> bool:
        """The backup predates this version's newest migration."""
        return self.revision != self.head


def restore(settings: Settings, source: Path, *, force: bool = False) -> Restored:
    """Check the backup at `source`, then install it as the data dir's stores."""
    stores = bm.layout(settings)
    manifest = bm.read(source)
    revision, head = _revisions(manifest)
    bm.verify(source, manifest)
    replaced = has_data(stores)
    if replaced and not force:
        raise bm.RestoreRefused(
            f"{settings.data_dir} already holds data; stop the server and pass --force to "
            "replace it (its database, shards and original files are deleted)"
        )
    _install(source, settings.data_dir, stores)
    return Restored(
        counts=bm.counts(manifest),
        created_at=str(manifest.get("created_at")),
        revision=revision,
        head=head,
        replaced=replaced,
        warnings=_embedding_warnings(settings, manifest.get("embedding")),
    )


def has_data(stores: bm.Layout) -> bool:
    """Whether a database, a shard or an original file is there already."""
    return stores.database.exists() or any(_entries(stores.edge)) or any(_entries(stores.blobs))


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []


def _revisions(manifest: dict[str, Any]) -> tuple[str, str | None]:
    """The backup's migration revision, which this version must know, and the newest one."""
    revision = manifest.get("revision")
    scripts = ScriptDirectory.from_config(migrate.config("sqlite://"))
    try:
        known = isinstance(revision, str) and scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise bm.InvalidBackup(
            f"the backup's database is at revision {revision!r}, which this version of Enclave "
            "does not know: restore it with the version that made it (or a newer one)"
        )
    return str(revision), scripts.get_current_head()


def _install(source: Path, data_dir: Path, stores: bm.Layout) -> None:
    """Copy into a staging folder, then swap the stores in."""
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f".restore-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        shutil.copy2(source / bm.DATABASE, staging / bm.DATABASE)
        for name in (bm.EDGE, bm.BLOBS):
            if (source / name).is_dir():
                shutil.copytree(source / name, staging / name, copy_function=edge_files.copy_sparse)
            else:
                (staging / name).mkdir()
        _remove(stores)
        # The database and the blobs may be configured onto other volumes: move, not rename.
        for name, place in ((bm.DATABASE, stores.database), (bm.BLOBS, stores.blobs)):
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staging / name, place)
        (staging / bm.EDGE).rename(stores.edge)
        _install_proofs(source, stores)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install_proofs(source: Path, stores: bm.Layout) -> None:
    """The signing keys come back; the checkpoints only where none are kept yet: existing
    ones are append-only evidence (they then show what the restore rolled back)."""
    if (source / bm.SIGNING).is_dir():
        shutil.rmtree(stores.signing, ignore_errors=True)
        shutil.copytree(source / bm.SIGNING, stores.signing)
    kept = stores.anchors.is_dir() and any(stores.anchors.iterdir())
    if (source / bm.ANCHORS).is_dir() and not kept:
        shutil.copytree(source / bm.ANCHORS, stores.anchors, dirs_exist_ok=True)


def _remove(stores: bm.Layout) -> None:
    """Delete the current stores: the database with its journal files, shards, originals."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        stores.database.with_name(stores.database.name + suffix).unlink(missing_ok=True)
    shutil.rmtree(stores.edge, ignore_errors=True)
    shutil.rmtree(stores.blobs, ignore_errors=True)


def _embedding_warnings(settings: Settings, embedding: object) -> list[str]:
    """Searches need the model the vectors were made with."""
    if not isinstance(embedding, dict):
        return ["the backup does not say which embedding model made its vectors"]
    made = (embedding.get("model"), embedding.get("backend"))
    if made == (settings.embedding_model, settings.embedding_backend):
        return []
    return [
        f"the vectors were made with model {made[0]!r} ({made[1]}), but this server is set up "
        f"with {settings.embedding_model!r} ({settings.embedding_backend}): set "
        "ENCLAVE_EMBEDDING_MODEL and ENCLAVE_EMBEDDING_BACKEND to match, or searches go wrong"
    ]
