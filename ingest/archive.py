"""Expanding an uploaded `.zip` into its member files, safely.

Members are only ever read into memory, never written to disk under their own
names, so a `../` path cannot escape anything; we still refuse such names
(zip-slip) because they signal a hostile archive. Sizes are enforced on the
bytes actually inflated, not on the headers, which can lie.
"""

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from ingest.errors import InvalidUpload, PayloadTooLarge

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
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
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


def _read_all(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], archive_name: str, limits: ArchiveLimits
) -> list[Member]:
    members: list[Member] = []
    total = 0
    for info in infos:
        path = safe_path(info.filename, archive_name)
        with archive.open(info) as handle:
            body = handle.read(limits.max_member_bytes + 1)
        if len(body) > limits.max_member_bytes:
            raise PayloadTooLarge(f"{path!r} in {archive_name!r} expands beyond the per-file limit")
        total += len(body)
        if total > limits.max_total_bytes:
            raise PayloadTooLarge(f"{archive_name!r} expands beyond {limits.max_total_bytes} bytes")
        members.append(Member(path, body))
    return members


def safe_path(name: str, archive_name: str) -> str:
    """A relative, normalised member path; absolute or `..` paths are refused (zip-slip)."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InvalidUpload(f"unsafe path {name!r} in {archive_name!r}")
    return str(path)
