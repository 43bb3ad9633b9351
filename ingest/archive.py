"""Expanding an uploaded `.zip` into its member files, safely.

Members are inflated 256 kB at a time into anonymous temporary files (never
under their own names, so a `../` path cannot escape anything; we still refuse
such names, zip-slip, because they signal a hostile archive). Sizes are enforced
on the bytes actually inflated, not on the headers, which can lie, and while
inflating: a zip bomb is refused after at most its caps' worth of disk and one
megabyte or two of memory. Only a few archives expand at once (`EXPANSIONS`).
"""

import io
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from ingest.errors import InvalidUpload, PayloadTooLarge, QueueFull

_CHUNK = 256 * 1024
# Archives expanded at the same time in this process; more wait up to `_WAIT_S`, then 429.
EXPANSIONS = threading.BoundedSemaphore(2)
_WAIT_S = 30.0

_JUNK_PARTS = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db"})


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what one archive may expand to."""

    max_members: int = 1000
    max_member_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 500 * 1024 * 1024


@dataclass(frozen=True)
class Member:
    """One file of the archive: its normalised path and its bytes."""

    path: str
    data: bytes

    @property
    def name(self) -> str:
        """The base name."""
        return PurePosixPath(self.path).name


def expand(data: bytes, archive_name: str, limits: ArchiveLimits) -> list[Member]:
    """The archive's files in order, or InvalidUpload / PayloadTooLarge."""
    try:
        with _expansion(), zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = [i for i in archive.infolist() if _wanted(i)]
            _check_count(infos, archive_name, limits)
            return _read_all(archive, infos, archive_name, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise InvalidUpload(f"{archive_name!r} is not a readable zip archive ({exc})") from exc
    except RuntimeError as exc:  # zipfile raises this for encrypted members
        raise InvalidUpload(f"{archive_name!r}: encrypted archives are not supported") from exc


def _wanted(info: zipfile.ZipInfo) -> bool:
    parts = PurePosixPath(info.filename).parts
    return not info.is_dir() and not (_JUNK_PARTS & set(parts)) and not parts[-1].startswith("._")


def _check_count(infos: list[zipfile.ZipInfo], archive_name: str, limits: ArchiveLimits) -> None:
    if not infos:
        raise InvalidUpload(f"{archive_name!r} contains no files")
    if len(infos) > limits.max_members:
        raise PayloadTooLarge(
            f"{archive_name!r} has {len(infos)} files; the limit is {limits.max_members}"
        )


@contextmanager
def _expansion() -> Iterator[None]:
    if not EXPANSIONS.acquire(timeout=_WAIT_S):
        raise QueueFull("too many archives are being expanded; retry shortly", retry_after=5)
    try:
        yield
    finally:
        EXPANSIONS.release()


def _read_all(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], archive_name: str, limits: ArchiveLimits
) -> list[Member]:
    """Inflate every member to a spool file under the caps; only then read them back."""
    with ExitStack() as spools:
        inflated: list[tuple[str, IO[bytes]]] = []
        total = 0
        for info in infos:
            path = safe_path(info.filename, archive_name)
            spool = spools.enter_context(tempfile.SpooledTemporaryFile(max_size=_CHUNK))
            total += _inflate(archive, info, spool, total, limits, f"{path!r} in {archive_name!r}")
            inflated.append((path, spool))
        return [Member(path, _read_back(spool)) for path, spool in inflated]


def _inflate(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    spool: IO[bytes],
    total: int,
    limits: ArchiveLimits,
    where: str,
) -> int:
    """Copy one member into `spool`, 256 kB at a time; PayloadTooLarge past a cap."""
    size = 0
    with archive.open(info) as handle:
        while chunk := handle.read(_CHUNK):
            size += len(chunk)
            if size > limits.max_member_bytes:
                raise PayloadTooLarge(f"{where} expands beyond the per-file limit")
            if total + size > limits.max_total_bytes:
                raise PayloadTooLarge(
                    f"{where}: the archive expands beyond {limits.max_total_bytes} bytes"
                )
            spool.write(chunk)
    return size


def _read_back(spool: IO[bytes]) -> bytes:
    spool.seek(0)
    return spool.read()


def safe_path(name: str, archive_name: str) -> str:
    """A relative, normalised member path; absolute or `..` paths are refused (zip-slip)."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    controls = any(ord(c) < 32 or ord(c) == 127 for c in cleaned)
    if (
        controls
        or path.is_absolute()
        or ".." in path.parts
        or (path.parts and ":" in path.parts[0])
    ):
        raise InvalidUpload(f"unsafe path {name!r} in {archive_name!r}")
    return str(path)
