"""Edge shards index their filter fields only once they grow; filters answer the same before."""

from pathlib import Path

import pytest

from retrieval import edge_schema as schema
from retrieval.edge import EdgeIndex
from retrieval.points import IndexFilter, IndexQuery, Mode
from tests.retrieval.test_index_contract import CORPUS_A, FILTERS, MODES, TENANT_A, D


def _fields(index: EdgeIndex) -> set[str]:
    (slot,) = index._shards.all()
    assert slot.shard is not None
    return set(slot.shard.info().payload_schema)


def test_a_small_shard_has_only_the_tenant_index_until_it_grows(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path, dimension=D, background_optimize=False, field_index_threshold=100)
    try:
        index.upsert(TENANT_A, CORPUS_A.points[:60])
        assert _fields(index) == {"tenant_id"}
        index.upsert(TENANT_A, CORPUS_A.points[60:120])
        assert _fields(index) == {
            "tenant_id",
            "document_id",
            "tags",
            "media_type",
            "access",
            "created_at",
        }
    finally:
        index.close()
    reopened = EdgeIndex(tmp_path, dimension=D, background_optimize=False)
    try:
        assert reopened.count(TENANT_A) == 120
        assert _fields(reopened) == schema.indexed_fields()
    finally:
        reopened.close()


@pytest.mark.parametrize("mode", MODES)
def test_filters_answer_the_same_with_and_without_field_indexes(tmp_path: Path, mode: Mode) -> None:
    small = EdgeIndex(tmp_path / "small", dimension=D, background_optimize=False)
    grown = EdgeIndex(
        tmp_path / "grown", dimension=D, background_optimize=False, field_index_threshold=1
    )
    try:
        for index in (small, grown):
            index.upsert(TENANT_A, CORPUS_A.points)
        assert _fields(small) == {"tenant_id"}
        assert _fields(grown) == schema.indexed_fields()
        for flt in FILTERS.values():
            assert _answers(small, mode, flt) == _answers(grown, mode, flt)
            assert small.count(TENANT_A) == grown.count(TENANT_A) == len(CORPUS_A.points)
    finally:
        small.close()
        grown.close()


def _answers(index: EdgeIndex, mode: Mode, flt: IndexFilter) -> list[tuple[str, float]]:
    dense, sparse = CORPUS_A.queries[0]
    hits = index.query(TENANT_A, IndexQuery(mode, dense, sparse, 10, flt, prefetch_limit=50))
    return [(str(hit.id), round(hit.score, 5)) for hit in hits]
