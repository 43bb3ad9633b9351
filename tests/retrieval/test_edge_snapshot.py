"""`EdgeIndex.snapshot`: a copy of every shard that opens elsewhere and answers the same."""

import os
from pathlib import Path

from retrieval import edge_files
from retrieval.edge import EdgeIndex
from tests.retrieval.test_index_contract import CORPUS_A, CORPUS_B, TENANT_A, TENANT_B, D, _snapshot


def _allocated(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def _apparent(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_snapshot_opens_elsewhere_with_the_same_answers(tmp_path: Path) -> None:
    # One open shard at most: tenant A's is closed when B's opens, B's stays open.
    index = EdgeIndex(tmp_path / "live", dimension=D, max_open_shards=1, background_optimize=False)
    index.upsert(TENANT_A, CORPUS_A.points)
    index.upsert(TENANT_B, CORPUS_B.points)
    edge_files.write_marker(tmp_path / "live" / TENANT_A.hex, 123)
    (tmp_path / "live" / f"{TENANT_B.hex}.opt").mkdir()  # a build's work copy: not data
    before = _snapshot(index)
    assert index.snapshot(tmp_path / "copy") == 2
    index.upsert(TENANT_A, CORPUS_B.points)  # later writes do not reach the copy
    index.close()
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == sorted(
        [TENANT_A.hex, f"{TENANT_A.hex}.hnsw", TENANT_B.hex]
    )
    copy = EdgeIndex(tmp_path / "copy", dimension=D, background_optimize=False)
    try:
        assert copy.count(TENANT_A) == len(CORPUS_A.points)
        assert copy.count(TENANT_B) == len(CORPUS_B.points)
        assert _snapshot(copy) == before
    finally:
        copy.close()


def test_shard_files_are_copied_sparse(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path / "live", dimension=D, background_optimize=False)
    index.upsert(TENANT_A, CORPUS_A.points)
    index.snapshot(tmp_path / "copy")
    index.close()
    copied = tmp_path / "copy"
    assert _apparent(copied) == _apparent(tmp_path / "live")
    assert _allocated(copied) < _apparent(copied) / 10


def test_copy_sparse_keeps_bytes_and_holes(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    with source.open("wb") as handle:
        handle.write(b"head")
        handle.seek(64 << 20)
        handle.write(b"tail")
    edge_files.copy_sparse(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert os.stat(target).st_blocks * 512 < 1 << 20
