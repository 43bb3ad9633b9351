"""Shard directories on disk: layout, crash recovery, and out-of-process HNSW builds.

`EdgeShard.optimize()` holds the GIL for its whole run (seconds to minutes), which
would freeze every thread of the service, so it runs in a child process on a copy
of the shard; the copy is then swapped in with two renames.
"""

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
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


def shards(root: Path) -> list[Path]:
    """Every tenant's shard directory under `root`, also one a crash left mid-swap."""
    names = {p.name.removesuffix(".old") for p in root.iterdir() if p.is_dir()}
    hexdigits = set("0123456789abcdef")
    return sorted(root / n for n in names if len(n) == 32 and set(n) <= hexdigits)


def copy_into(live: Path, dest: Path) -> bool:
    """Copy a flushed shard and its HNSW marker (the caller holds its lock); False if absent."""
    if not live.exists():
        return False
    shutil.copytree(live, dest / live.name, copy_function=copy_sparse)
    if marker(live).exists():
        shutil.copy2(marker(live), dest / marker(live).name)
    return True


def copy_sparse(src: str | Path, dst: str | Path) -> None:
    """Copy a file, leaving its holes holes: shard files are mostly preallocated zeros (a
    tenant's 1 MB of data sits in ~200 MB of files), and a plain copy would write them all."""
    with open(src, "rb") as source, open(dst, "wb") as target:
        size = os.fstat(source.fileno()).st_size
        for start, end in data_ranges(source.fileno(), size):
            for offset in range(start, end, _BLOCK):
                block = os.pread(source.fileno(), min(_BLOCK, end - offset), offset)
                os.pwrite(target.fileno(), block, offset)
        target.truncate(size)
    shutil.copystat(src, dst)


_BLOCK = 1 << 20


def data_ranges(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """The (start, end) of each stretch of an open file that holds data; holes are skipped."""
    if not hasattr(os, "SEEK_DATA"):
        yield 0, size
        return
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole up to the end
                return
            raise
        offset = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, offset
