"""Reranking: a tiny cross-encoder built offline in a temp dir, the search mechanism, the API."""

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
)

from api.app import create_app
from api.services import Services
from api.settings import Settings
from retrieval import search as searching
from retrieval.rerank import CrossEncoderReranker
from tenancy.ids import TenantId
from tenancy.scope import Scope
from tests.factories import TenantKeys, ingest, make_tenant, search
from tests.fakes import HashingEmbedder

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "are",
    "for",
    "how",
    "long",
    "parental",
    "leave",
    "weeks",
    "days",
    "policy",
    "office",
    "remote",
    "work",
    "security",
    "badge",
    "visitors",
    "desk",
    "lunch",
    "budget",
    "travel",
    "expenses",
    "approved",
    "manager",
]
DOCUMENTS = [
    ("leave.txt", b"Parental leave is sixteen weeks for every parent."),
    ("remote.txt", b"Remote work is approved by the manager for two days a week."),
    ("badge.txt", b"Visitors need a security badge at the office desk."),
    ("travel.txt", b"Travel expenses are approved by the manager before the trip."),
    ("lunch.txt", b"The lunch budget is ten euros a day in the office."),
]
QUERY = "how long is parental leave"


def build_cross_encoder(path: Path) -> Path:
    """A 2-layer BERT cross-encoder with a small WordPiece vocabulary, saved like a HF model."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, model_max_length=128)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        # Wide random weights so that different passages get clearly different scores.
        initializer_range=1.0,
    )
    config.num_labels = 1  # one relevance logit, as sentence-transformers cross-encoders have
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny cross-encoder's directory."""
    return build_cross_encoder(tmp_path_factory.mktemp("cross-encoder"))


@pytest.fixture(scope="module")
def reranker(model_path: Path) -> CrossEncoderReranker:
    """The adapter over the tiny model."""
    return CrossEncoderReranker(str(model_path), max_length=32, max_candidates=4)


def _direct_scores(
    model_path: Path, query: str, passages: Sequence[str], *, max_length: int = 128
) -> list[float]:
    """The same scores computed with plain transformers: sigmoid of the single logit."""
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path).eval()
    pairs = tokenizer(
        [query] * len(passages),
        list(passages),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    with torch.no_grad():
        logits = model(**pairs).logits
    return [float(x) for x in torch.sigmoid(logits[:, 0])]


def test_scores_are_the_models_own(reranker: CrossEncoderReranker, model_path: Path) -> None:
    passages = [text.decode() for _, text in DOCUMENTS[:4]]
    scores = reranker.rerank(QUERY, passages)
    expected = _direct_scores(model_path, QUERY, passages, max_length=32)
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(set(scores)) == len(scores)


def test_candidates_and_length_are_bounded(reranker: CrossEncoderReranker) -> None:
    assert reranker.max_length == 32
    assert reranker.rerank(QUERY, []) == []
    long_passage = " ".join(["parental leave policy"] * 200)
    assert len(reranker.rerank(QUERY, [long_passage])) == 1
    with pytest.raises(ValueError, match="at most 4"):
        reranker.rerank(QUERY, ["leave"] * 5)


class RecordingReranker:
    """Scores passages by their length (shortest best) and remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """Minus the length of each passage."""
        self.calls.append(list(passages))
        return [-float(len(p)) for p in passages]


async def _tenant_with_documents(client: httpx.AsyncClient, services: Services) -> TenantKeys:
    keys = await make_tenant(client, "Acme Robotics")
    job = await ingest(client, services, keys.admin, DOCUMENTS)
    assert job["status"] == "done", job
    return keys


def _results(
    services: Services,
    tenant_id: str,
    retriever: searching.Retriever,
    request: searching.SearchRequest,
) -> list[dict[str, Any]]:
    with services.sessions() as session:
        scope = Scope(session, TenantId(uuid.UUID(tenant_id)))
        results = searching.search(scope, retriever, request, key_id=None).record.results
        session.rollback()
    return results


async def test_rerank_reorders_the_top_fused_candidates(
    client: httpx.AsyncClient, services: Services
) -> None:
    keys = await _tenant_with_documents(client, services)
    fake = RecordingReranker()
    retriever = replace(services.retriever, reranker=fake, rerank_candidates=3)
    fused = _results(services, keys.id, retriever, searching.SearchRequest(QUERY, top_k=3))
    request = searching.SearchRequest(QUERY, top_k=2, rerank=True)
    reranked = _results(services, keys.id, retriever, request)
    # Only the 3 best fused hits of the 5 documents reach the reranker, in fused order.
    assert fake.calls == [[hit["text"] for hit in fused]]
    expected = sorted(fused, key=lambda hit: len(hit["text"]))[:2]
    assert [hit["chunk_id"] for hit in reranked] == [hit["chunk_id"] for hit in expected]
    assert [hit["score"] for hit in reranked] == [-float(len(h["text"])) for h in expected]
    assert [hit["rank"] for hit in reranked] == [1, 2]


async def test_rerank_pool_grows_to_top_k(client: httpx.AsyncClient, services: Services) -> None:
    keys = await _tenant_with_documents(client, services)
    fake = RecordingReranker()
    retriever = replace(services.retriever, reranker=fake, rerank_candidates=2)
    request = searching.SearchRequest(QUERY, top_k=4, mode="dense", rerank=True)
    assert len(_results(services, keys.id, retriever, request)) == 4
    assert len(fake.calls[0]) == 4


@pytest.fixture
async def rerank_client(
    settings: Settings, model_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The app with the tiny cross-encoder configured, and a client talking to it."""
    configured = settings.model_copy(
        update={"rerank_model": str(model_path), "rerank_candidates": 4}
    )
    app = create_app(configured, embedder=HashingEmbedder())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://enclave.test") as http:
            yield http, app.state.services


async def test_api_rerank_orders_by_the_cross_encoder(
    rerank_client: tuple[httpx.AsyncClient, Services], model_path: Path
) -> None:
    client, services = rerank_client
    keys = await _tenant_with_documents(client, services)
    fused = (await search(client, keys.reader, QUERY, top_k=4)).json()["results"]
    response = await search(client, keys.reader, QUERY, top_k=3, rerank=True)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    candidates = _direct_scores(model_path, QUERY, [hit["text"] for hit in fused])
    best = sorted(zip(candidates, [hit["chunk_id"] for hit in fused], strict=True), reverse=True)
    assert [hit["chunk_id"] for hit in results] == [chunk_id for _, chunk_id in best[:3]]
    assert [hit["score"] for hit in results] == pytest.approx([s for s, _ in best[:3]], abs=1e-5)


async def test_api_rerank_without_a_model_is_422(client: httpx.AsyncClient) -> None:
    keys = await make_tenant(client, "Acme Robotics")
    response = await search(client, keys.reader, QUERY, rerank=True)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "rerank_unavailable"
