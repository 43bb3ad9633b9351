"""What open Edge shards hold in memory: vectors mapped unread, evicted shards closed."""

import re
import time
import uuid
from pathlib import Path

from retrieval.edge import EdgeIndex
from retrieval.points import IndexQuery
from tenancy.ids import TenantId
from tests.retrieval.test_index_contract import TENANT_A, D, make_corpus


def _resident_kib(under: Path, part: str) -> int:
    """Resident KiB of this process's mappings of files under `under` whose path has `part`."""
    total, counting = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            fields = line.split()
            path = fields[5] if len(fields) > 5 else ""
            counting = path.startswith(str(under)) and part in path
        elif counting and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_an_open_shard_reads_in_only_the_vector_pages_a_search_touches(tmp_path: Path) -> None:
    corpus = make_corpus(TENANT_A, docs=4, seed=1)
    writer = EdgeIndex(tmp_path, dimension=D, background_optimize=False)
    writer.upsert(TENANT_A, corpus.points)
    writer.close()
    index = EdgeIndex(tmp_path, dimension=D, background_optimize=False)
    try:
        dense, sparse = corpus.queries[0]
        assert index.query(TENANT_A, IndexQuery("hybrid", dense, sparse, 5))
        # The vector file is a 32 MB preallocated chunk; 20 vectors of 16 floats fit in a page.
        assert 0 < _resident_kib(tmp_path, "vector_storage-dense") < 1024
    finally:
        index.close()


def test_evicted_shards_are_closed_in_the_background(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path, dimension=D, max_open_shards=2, background_optimize=False)
    tenants = [TenantId(uuid.uuid5(TENANT_A, f"t{i}")) for i in range(5)]
    try:
        for i, tenant in enumerate(tenants):
            index.upsert(tenant, make_corpus(tenant, docs=1, seed=i).points)
        deadline = time.monotonic() + 10
        while _loaded(index) > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _loaded(index) == index.open_shards == 2
        assert [index.count(t) for t in tenants] == [5] * 5
    finally:
        index.close()


def _loaded(index: EdgeIndex) -> int:
    return sum(slot.shard is not None for slot in index._shards.all())
