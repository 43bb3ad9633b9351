"""A BEIR dataset (corpus, judged queries) and how a ranking is scored against it."""

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = ("ndcg@10", "recall@10", "recall@100")


SUFFIX = ".txt"


@dataclass(frozen=True)
class Beir:
    """A BEIR dataset: document texts, query texts and graded judgments, by BEIR id."""

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(
    dataset: Path, *, limit_docs: int | None = None, limit_queries: int | None = None
) -> Beir:
    """The judged queries of `qrels/test.tsv`; a doc limit keeps the judged documents first."""
    qrels = _read_qrels(dataset / "qrels" / "test.tsv")
    all_queries = {r["_id"]: r["text"] for r in _jsonl(dataset / "queries.jsonl")}
    queries = {q: t for q, t in all_queries.items() if q in qrels}
    queries = dict(list(queries.items())[:limit_queries])
    corpus = {r["_id"]: _document_text(r) for r in _jsonl(dataset / "corpus.jsonl")}
    if limit_docs is not None:
        judged = [d for q in queries for d in qrels[q] if d in corpus]
        keep = list(dict.fromkeys([*judged, *corpus]))[:limit_docs]
        corpus = {d: corpus[d] for d in keep}
    return Beir(corpus, queries, {q: qrels[q] for q in queries})


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
    return qrels


def _document_text(row: dict[str, Any]) -> str:
    title, text = str(row.get("title") or "").strip(), str(row.get("text") or "").strip()
    return f"{title}\n\n{text}" if title else text


def beir_id(filename: str) -> str:
    """The BEIR id of a document uploaded as `<id>.txt`."""
    return filename.removesuffix(SUFFIX)


def dev_test(query_ids: list[str]) -> dict[str, list[str]]:
    """Dev = odd query ids (position when ids are not numbers), test = the rest."""

    def odd(position: int, query_id: str) -> bool:
        return (int(query_id) if query_id.isdigit() else position) % 2 == 1

    dev = [q for i, q in enumerate(query_ids) if odd(i, q)]
    return {"dev": dev, "test": [q for q in query_ids if q not in set(dev)]}


def scores(
    qrels: dict[str, dict[str, int]], run: dict[str, list[str]], query_ids: list[str]
) -> dict[str, float]:
    """Mean nDCG@10, Recall@10 and Recall@100 over `query_ids`, computed by ranx."""
    # Imported here: numba makes it a 2 s import for every other CLI command.
    import ranx  # type: ignore[import-untyped]

    judged = ranx.Qrels({q: qrels[q] for q in query_ids})
    # Scores from ranks, so ranx sorts exactly as the service ranked (no tie reordering).
    ranked = {
        q: {d: float(len(run[q]) - i) for i, d in enumerate(run[q])} for q in query_ids if run[q]
    }
    if not ranked:  # ranx cannot build an empty run
        return dict.fromkeys(METRICS, 0.0)
    with _quiet_numba():
        means = ranx.evaluate(judged, ranx.Run(ranked), list(METRICS), make_comparable=True)
    return {m: round(float(means[m]), 4) for m in METRICS}


@contextmanager
def _quiet_numba() -> Iterator[None]:
    # ranx's JIT-compiled kernels warn about a harmless uint64 -> int64 cast on first use.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")
        yield
