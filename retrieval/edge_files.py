"""Shard directories on disk: layout, crash recovery, and out-of-process HNSW builds.

`EdgeShard.optimize()` holds the GIL for its whole run (seconds to minutes), which
would freeze every thread of the service, so it runs in a child process on a copy
of the shard; the copy is then swapped in with two renames.
"""

import shutil
import subprocess
import sys
from pathlib import Path

# Only qdrant_edge is imported in the child: no project code, no shell.
_OPTIMIZE = (
    "import sys, qdrant_edge as q\n"
    "s = q.EdgeShard.load(sys.argv[1])\n"
    "s.optimize()\n"
    "s.flush()\n"
    "s.close()\n"
)


def work_dir(live: Path) -> Path:
    """Where the copy being optimized lives."""
    return live.with_name(live.name + ".opt")


def old_dir(live: Path) -> Path:
    """Where the replaced shard waits for removal during a swap."""
    return live.with_name(live.name + ".old")


def marker(live: Path) -> Path:
    """File holding the point count at the last HNSW build."""
    return live.with_name(live.name + ".hnsw")


def recover(live: Path) -> None:
    """Finish or roll back a swap interrupted by a crash; drop a stale work copy."""
    old = old_dir(live)
    if old.exists() and not live.exists():
        old.rename(live)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work_dir(live), ignore_errors=True)


def remove_all(live: Path) -> None:
    """Delete a tenant's shard and every side file."""
    for path in (live, work_dir(live), old_dir(live)):
        shutil.rmtree(path, ignore_errors=True)
    marker(live).unlink(missing_ok=True)


def copy_shard(live: Path) -> Path:
    """Copy a flushed shard (the caller holds its lock) to the work directory."""
    work = work_dir(live)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(live, work)
    return work


def optimize_copy(work: Path, timeout: float) -> None:
    """Build HNSW on the copy in a child process (raises on failure or timeout)."""
    command = [sys.executable, "-c", _OPTIMIZE, str(work)]
    subprocess.run(command, check=True, timeout=timeout, capture_output=True)  # noqa: S603


def discard(work: Path) -> None:
    """Remove a work copy (after a swap it is already gone)."""
    shutil.rmtree(work, ignore_errors=True)


def swap(live: Path, work: Path) -> None:
    """Put the optimized copy in place of the (closed) live shard."""
    old = old_dir(live)
    live.rename(old)
    work.rename(live)
    shutil.rmtree(old, ignore_errors=True)


def read_marker(live: Path) -> int:
    """Point count at the last HNSW build (0 when unknown)."""
    try:
        return int(marker(live).read_text())
    except (OSError, ValueError):
        return 0


def write_marker(live: Path, points: int) -> None:
    """Record the point count at an HNSW build."""
    tmp = marker(live).with_suffix(".tmp")
    tmp.write_text(str(points))
    tmp.replace(marker(live))
