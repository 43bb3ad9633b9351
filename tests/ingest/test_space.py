"""The free-space check every write (and every search) makes."""

import os
from pathlib import Path

from ingest.space import Disk


def _free(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def test_free_space_is_the_folders_filesystems(tmp_path: Path) -> None:
    disk = Disk(paths=(tmp_path,), reserve_bytes=0)
    assert abs(disk.free() - _free(tmp_path)) < 64 * 2**20  # other writers may move it a bit


def test_a_folder_not_made_yet_counts_its_nearest_existing_parent(tmp_path: Path) -> None:
    missing = tmp_path / "not" / "yet"
    disk = Disk(paths=(missing,), reserve_bytes=0)
    assert not missing.exists()
    assert disk.free() > 0
    assert abs(disk.free() - _free(tmp_path)) < 64 * 2**20


def test_no_folders_means_no_limit() -> None:
    assert Disk(paths=(), reserve_bytes=0).free() > 2**62
