"""`enclave eval` on a tiny BEIR dataset whose rankings are known, against hand-computed metrics.

With the hashing embedder and BM25 every mode ranks the judged documents the same way:
query 1 "zebra stripes": d2 (judged 0), then d1 (judged 1);
query 2 "volcano lava": d3 (judged 1), then d4 (judged 2);
query 3 "coral reef bleaching": d5 (judged 1) first; d7 (judged 1) is not in the corpus.
Query 4 has no judgment and is not evaluated.
"""

import io
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from api.eval.beir import load_beir
from api.eval.report import EvalReport, render
from api.eval.run import run_eval
from api.settings import Settings
from tests.fakes import HashingEmbedder
from tests.retrieval.test_rerank import build_cross_encoder

TINY = Path(__file__).resolve().parent.parent / "data" / "tiny_beir"


def _discount(rank: int) -> float:
    return 1 / math.log2(rank + 1)


# nDCG@10 = DCG / ideal DCG, linear gain (as trec_eval and BEIR).
NDCG = {
    "1": _discount(2) / _discount(1),
    "2": (1 * _discount(1) + 2 * _discount(2)) / (2 * _discount(1) + 1 * _discount(2)),
    "3": _discount(1) / (_discount(1) + _discount(2)),
}
RECALL = {"1": 1.0, "2": 1.0, "3": 0.5}


def _mean(values: dict[str, float], ids: list[str]) -> float:
    return sum(values[q] for q in ids) / len(ids)


def _expected(ids: list[str]) -> dict[str, float]:
    recall = _mean(RECALL, ids)
    return {"ndcg@10": _mean(NDCG, ids), "recall@10": recall, "recall@100": recall}


@pytest.fixture
def report(settings: Settings) -> EvalReport:
    """The tiny dataset through ingestion and search, split into odd and even query ids."""
    return run_eval(TINY, settings=settings, embedder=HashingEmbedder(), split_dev=True)


def test_loads_only_judged_queries_and_positive_judgments() -> None:
    beir = load_beir(TINY)
    assert list(beir.queries) == ["1", "2", "3"]
    assert beir.qrels["1"] == {"d1": 1}
    assert beir.corpus["d3"] == "Volcano eruptions\n\nLava flows from an erupting volcano."


def test_document_limit_keeps_judged_documents_first() -> None:
    beir = load_beir(TINY, limit_docs=3, limit_queries=1)
    assert list(beir.queries) == ["1"]
    assert list(beir.corpus) == ["d1", "d2", "d3"]
    assert set(load_beir(TINY, limit_docs=2, limit_queries=2).corpus) == {"d1", "d3"}


def test_metrics_match_hand_computed_values(report: EvalReport) -> None:
    assert report.documents == 6
    assert report.queries == 3
    assert report.skipped == []
    assert [r.mode for r in report.results] == ["dense", "sparse", "hybrid"]
    splits = {"all": ["1", "2", "3"], "dev": ["1", "3"], "test": ["2"]}
    for result in report.results:
        for split, ids in splits.items():
            assert result.metrics[split] == pytest.approx(_expected(ids), abs=1e-4), (
                result.mode,
                split,
            )


def test_reports_latency_and_renders(report: EvalReport) -> None:
    for result in report.results:
        assert 0 < result.p50_ms <= result.p95_ms
    out = io.StringIO()
    render(report, Console(file=out, width=120))
    table = out.getvalue()
    assert "hybrid" in table
    assert f"{_mean(NDCG, ['1', '2', '3']):.4f}" in table
    assert json.loads(json.dumps(report.to_json()))["results"][0]["mode"] == "dense"


def test_rerun_on_the_same_data_dir_reuses_the_tenant_and_can_pick_modes(
    settings: Settings, report: EvalReport
) -> None:
    again = run_eval(TINY, settings=settings, embedder=HashingEmbedder(), modes=["hybrid"])
    assert again.documents == 6
    assert [r.mode for r in again.results] == ["hybrid"]
    assert again.results[0].metrics["all"] == report.results[2].metrics["all"]


def test_unknown_mode_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        run_eval(TINY, settings=Settings(data_dir=tmp_path / "data"), modes=["bm42"])
    assert not (tmp_path / "data").exists()


def test_rerank_mode_scores_the_reranked_head_then_the_hybrid_tail(
    settings: Settings, tmp_path: Path
) -> None:
    model = build_cross_encoder(tmp_path / "cross-encoder")
    configured = settings.model_copy(update={"rerank_model": str(model), "rerank_candidates": 2})
    report = run_eval(TINY, settings=configured, embedder=HashingEmbedder())
    assert [r.mode for r in report.results] == ["dense", "sparse", "hybrid", "rerank"]
    # Every document is in the hybrid tail, so recall@100 cannot change.
    assert report.results[3].metrics["all"]["recall@100"] == pytest.approx(2.5 / 3, abs=1e-4)
