"""Zip expansion streams: a bomb is refused after a megabyte or two of memory, not its size."""

import io
import tracemalloc
import zipfile

import pytest

from ingest import archive
from ingest.archive import ArchiveLimits, expand
from ingest.errors import PayloadTooLarge, QueueFull

MB = 1024 * 1024


def _zeros(members: int, size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as packed:
        for i in range(members):
            packed.writestr(f"part-{i}.txt", b"\0" * size)
    return buffer.getvalue()


def test_a_bomb_is_refused_within_a_few_megabytes_of_memory() -> None:
    bomb = _zeros(members=3, size=9 * MB)  # 27 MB inflated from ~30 kB
    limits = ArchiveLimits(max_member_bytes=50 * MB, max_total_bytes=20 * MB)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="expands beyond"):
            expand(bomb, "bomb.zip", limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB, f"{peak / MB:.1f} MB held while inflating"


def test_a_member_past_its_own_cap_is_refused_while_inflating() -> None:
    bomb = _zeros(members=1, size=12 * MB)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="per-file limit"):
            expand(bomb, "one.zip", ArchiveLimits(max_member_bytes=5 * MB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB


def test_members_within_the_caps_come_back_whole() -> None:
    data = _zeros(members=2, size=3 * MB)
    members = expand(data, "ok.zip", ArchiveLimits(max_member_bytes=4 * MB))
    assert [(m.path, len(m.data)) for m in members] == [
        ("part-0.txt", 3 * MB),
        ("part-1.txt", 3 * MB),
    ]


def test_only_a_few_archives_expand_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "_WAIT_S", 0.05)
    taken = 0
    while archive.EXPANSIONS.acquire(blocking=False):
        taken += 1
    try:
        with pytest.raises(QueueFull):
            expand(_zeros(1, 10), "waiting.zip", ArchiveLimits())
    finally:
        for _ in range(taken):
            archive.EXPANSIONS.release()
    assert taken == 2
    assert len(expand(_zeros(1, 10), "now.zip", ArchiveLimits())) == 1
