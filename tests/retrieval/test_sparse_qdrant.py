"""The sparse encoder against Qdrant's IDF modifier, in qdrant-client local mode."""

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient, models

from retrieval.sparse import SparseVector, encode_document, encode_query

DOCS = [
    "The warehouse shipped the pallets on Monday.",
    "The warehouse shipped the crates on Tuesday.",
    "The warehouse received the pallets on Friday.",
    "Shipment of part ACME-7731 to the warehouse on Monday.",
    "",
]


def _qdrant(vector: SparseVector) -> models.SparseVector:
    """The client's sparse vector for one of ours."""
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


@pytest.fixture
def client() -> Iterator[QdrantClient]:
    qdrant = QdrantClient(":memory:")
    qdrant.create_collection(
        "tenant",
        vectors_config={},
        sparse_vectors_config={"sparse": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    qdrant.upsert(
        "tenant",
        points=[
            models.PointStruct(id=i, vector={"sparse": _qdrant(encode_document(doc))}, payload={})
            for i, doc in enumerate(DOCS)
        ],
    )
    yield qdrant
    qdrant.close()


def _top_ids(client: QdrantClient, query: str) -> list[models.ExtendedPointId]:
    """Point ids ranked by the sparse query."""
    hits = client.query_points("tenant", query=_qdrant(encode_query(query)), using="sparse")
    return [hit.id for hit in hits.points]


def test_rare_term_ranks_its_document_first(client: QdrantClient) -> None:
    # "warehouse" and "monday" are common here; "acme7731"/"7731" occur once.
    assert _top_ids(client, "ACME-7731 warehouse Monday")[0] == 3
    assert _top_ids(client, "crates warehouse")[0] == 1


def test_idf_outweighs_common_terms(client: QdrantClient) -> None:
    hits = client.query_points(
        "tenant", query=_qdrant(encode_query("warehouse 7731")), using="sparse"
    ).points
    assert hits[0].id == 3
    assert hits[0].score > 2 * hits[1].score


def test_empty_query_returns_nothing(client: QdrantClient) -> None:
    assert _top_ids(client, "the of and") == []
