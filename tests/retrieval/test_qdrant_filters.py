"""Every request `QdrantIndex` sends carries the tenant condition, at every stage."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from qdrant_client import QdrantClient, models

from retrieval.points import IndexFilter, IndexPoint, IndexQuery, Mode, PointPayload, point_id
from retrieval.qdrant import QdrantIndex, collection_name
from retrieval.sparse import encode_document, encode_query
from tenancy.ids import TenantId

D = 4
TENANT = TenantId(uuid.UUID("aaaaaaaa-0000-4000-8000-00000000000a"))
OTHER_DOC = uuid.UUID("bbbbbbbb-0000-4000-8000-00000000000b")
DOC = uuid.uuid5(TENANT, "doc")


@dataclass(frozen=True)
class Call:
    """One method call made on the client."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class RecordingClient:
    """Forwards to a real client and records every method call."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target):
            return target

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(Call(name, args, kwargs))
            return target(*args, **kwargs)

        return record

    def named(self, name: str) -> list[Call]:
        """The recorded calls of one method."""
        return [call for call in self.calls if call.name == name]


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[QdrantIndex, RecordingClient]]:
    """A local-mode index whose client records its calls, holding a few points."""
    proxy = RecordingClient(QdrantClient(path=str(tmp_path / "q")))
    index = QdrantIndex(cast(QdrantClient, proxy), dimension=D, local=True)
    payload = PointPayload(TENANT, DOC, 1, "text/plain", datetime(2024, 1, 2, tzinfo=UTC))
    points = [
        IndexPoint(point_id(DOC, i), [1.0, float(i), 0.0, 0.5], encode_document(f"w{i} x"), payload)
        for i in range(4)
    ]
    index.upsert(TENANT, points)
    proxy.calls.clear()
    yield index, proxy
    index.close()


def _is_tenant_condition(condition: Any) -> bool:
    return (
        isinstance(condition, models.FieldCondition)
        and condition.key == "tenant_id"
        and condition.match == models.MatchAny(any=[str(TENANT)])
    )


def _has_tenant(flt: Any) -> bool:
    """A filter whose required conditions include exactly this tenant."""
    return isinstance(flt, models.Filter) and any(_is_tenant_condition(c) for c in flt.must or [])


FILTERS = [
    IndexFilter(),
    IndexFilter(document_ids=(OTHER_DOC,)),
    IndexFilter(
        tags=("t",), media_types=("text/plain",), created_after=datetime(2024, 1, 1, tzinfo=UTC)
    ),
]


@pytest.mark.parametrize("flt", FILTERS)
@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_query_filters_every_stage(
    recorded: tuple[QdrantIndex, RecordingClient], mode: Mode, flt: IndexFilter
) -> None:
    index, proxy = recorded
    index.query(TENANT, IndexQuery(mode, [1.0, 0.0, 0.0, 0.0], encode_query("w1"), 3, flt))
    (call,) = proxy.named("query_points")
    assert call.args[0] == collection_name(TENANT)
    assert _has_tenant(call.kwargs["query_filter"])
    prefetches = call.kwargs.get("prefetch") or []
    assert len(prefetches) == (2 if mode == "hybrid" else 0)
    assert all(_has_tenant(prefetch.filter) for prefetch in prefetches)


def test_count_filters_on_tenant(recorded: tuple[QdrantIndex, RecordingClient]) -> None:
    index, proxy = recorded
    assert index.count(TENANT) == 4
    assert index.count(TENANT, DOC) == 4
    counts = proxy.named("count")
    assert len(counts) == 2
    assert all(_has_tenant(c.kwargs["count_filter"]) for c in counts)
    assert all(c.args[0] == collection_name(TENANT) for c in counts)


def test_delete_document_filters_on_tenant(recorded: tuple[QdrantIndex, RecordingClient]) -> None:
    index, proxy = recorded
    assert index.delete_document(TENANT, DOC) == 4
    (count,) = proxy.named("count")
    (delete,) = proxy.named("delete")
    assert _has_tenant(count.kwargs["count_filter"])
    selector = delete.kwargs["points_selector"]
    assert isinstance(selector, models.FilterSelector)
    assert _has_tenant(selector.filter)
    assert delete.args[0] == collection_name(TENANT)


def test_delete_tenant_drops_only_its_collection(
    recorded: tuple[QdrantIndex, RecordingClient],
) -> None:
    index, proxy = recorded
    assert index.delete_tenant(TENANT) == 4
    (drop,) = proxy.named("delete_collection")
    assert drop.args == (collection_name(TENANT),)
    assert not proxy.named("delete")
