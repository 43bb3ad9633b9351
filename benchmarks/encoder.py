"""Encoder backends side by side: torch (sentence-transformers) vs ONNX Runtime fp32 and int8.

What is measured, per backend, all in this process on the CPU
  * Throughput: `embed_documents` of the first `--docs` (512) SciFact abstracts
    (title + " " + text, truncated at 256 tokens) in batches of `--batch` (64); `--rounds`
    rounds with the backends interleaved inside each round, so load from other processes
    on this shared machine hits them alike; the median round is reported.
  * Query latency: `embed_query` of `--queries` (200) SciFact queries, backends interleaved
    in blocks of 25 (first call of a block untimed); p50 and p95.
  * Quality: the whole SciFact corpus (5,183 docs) and the 300 test queries embedded,
    exact cosine ranking with numpy (top 100), nDCG@10 by ranx on qrels/test.tsv; also
    the cosine of each document vector to torch's (mean and minimum).
  * `onnx-int8 @1` is int8 encoding one text per call, `OnnxEmbedder`'s int8 default:
    dynamic int8 scales activations per batch, so batched vectors depend on neighbours.

The ONNX files are exported/quantised once into `--cache-dir` (reused by later runs).
Decision rule: an ONNX backend qualifies as the default when its throughput beats torch's
and |nDCG@10 - torch's| <= 0.005.

Run: `python benchmarks/encoder.py` (full, ~15 min on 2 cores), `--quick` (~2 min).
"""

# ruff: noqa: E402
import sys
from pathlib import Path

# `python benchmarks/encoder.py` puts benchmarks/ first on sys.path, where `ingest.py` would
# shadow the project's `ingest` package: put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.harness import percentile
from retrieval.embed import Embedder, SentenceTransformerEmbedder
from retrieval.onnx_embed import OnnxEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATASET = Path("/work/shared/datasets/scifact")
TOLERANCE = 0.005
TOP_K = 100
LATENCY_BLOCK = 25
console = Console(width=150)


@dataclass(frozen=True)
class Options:
    """Command-line options."""

    dataset: Path
    docs: int
    batch: int
    queries: int
    rounds: int
    corpus_limit: int | None
    backends: tuple[str, ...]
    cache_dir: Path


@dataclass(frozen=True)
class SciFact:
    """Corpus texts, judged test queries and their judgments, by BEIR id."""

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass
class Result:
    """What one backend measured."""

    backend: str
    setup_s: float
    rounds: list[float] = field(default_factory=list)
    query_ms: list[float] = field(default_factory=list)
    corpus_s: float = 0.0
    ndcg: float = 0.0
    cos_mean: float = 1.0
    cos_min: float = 1.0

    @property
    def chunks_per_s(self) -> float:
        """Median throughput over the rounds."""
        return statistics.median(self.rounds)


def load(dataset: Path, corpus_limit: int | None) -> SciFact:
    """SciFact test split; a corpus limit keeps the judged documents first."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (dataset / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
    rows = _jsonl(dataset / "queries.jsonl")
    queries = {r["_id"]: r["text"] for r in rows if r["_id"] in qrels}
    corpus = {r["_id"]: f"{r['title']} {r['text']}" for r in _jsonl(dataset / "corpus.jsonl")}
    if corpus_limit is not None:
        judged = [d for q in queries for d in qrels[q] if d in corpus]
        corpus = {d: corpus[d] for d in list(dict.fromkeys([*judged, *corpus]))[:corpus_limit]}
    return SciFact(corpus, queries, {q: qrels[q] for q in queries})


def _jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def make_backends(opts: Options) -> dict[str, Callable[[], Embedder]]:
    """Factories of the compared encoders, by row label."""
    factories: dict[str, Callable[[], Embedder]] = {
        "torch": lambda: SentenceTransformerEmbedder(batch_size=opts.batch),
        "onnx": lambda: OnnxEmbedder(opts.cache_dir, batch_size=opts.batch),
        "onnx-int8": lambda: OnnxEmbedder(opts.cache_dir, quantize=True, batch_size=opts.batch),
        "onnx-int8 @1": lambda: OnnxEmbedder(opts.cache_dir, quantize=True, batch_size=1),
    }
    return {name: factories[name] for name in opts.backends}


def build(opts: Options) -> tuple[dict[str, Embedder], dict[str, Result]]:
    """Construct every backend (exporting ONNX on first use), timing each."""
    embedders: dict[str, Embedder] = {}
    results: dict[str, Result] = {}
    for name, factory in make_backends(opts).items():
        started = time.perf_counter()
        embedders[name] = factory()
        results[name] = Result(name, time.perf_counter() - started)
        console.print(f"{name}: ready in {results[name].setup_s:.1f} s")
    return embedders, results


def measure_throughput(
    embedders: dict[str, Embedder], results: dict[str, Result], texts: list[str], rounds: int
) -> None:
    """Interleaved rounds of `embed_documents(texts)`; one warm-up call first."""
    for embedder in embedders.values():
        embedder.embed_documents(texts[:8])
    for round_no in range(rounds):
        for name, embedder in _rotated(embedders, round_no):
            started = time.perf_counter()
            embedder.embed_documents(texts)
            results[name].rounds.append(len(texts) / (time.perf_counter() - started))
        console.print(f"round {round_no + 1}/{rounds}: " + _rates(results))


def _rotated(embedders: dict[str, Embedder], shift: int) -> Iterator[tuple[str, Embedder]]:
    items = list(embedders.items())
    shift %= len(items)
    yield from items[shift:] + items[:shift]


def _rates(results: dict[str, Result]) -> str:
    return ", ".join(f"{r.backend} {r.rounds[-1]:.1f}/s" for r in results.values() if r.rounds)


def measure_latency(
    embedders: dict[str, Embedder], results: dict[str, Result], queries: list[str]
) -> None:
    """`embed_query` of every query on every backend, in interleaved blocks of queries.

    Blocks, not single queries: torch's OpenMP and ORT's pool threads keep spinning a
    moment after a call, which would bill each backend for the other's threads.
    """
    for block, start in enumerate(range(0, len(queries), LATENCY_BLOCK)):
        for name, embedder in _rotated(embedders, block):
            embedder.embed_query(queries[start])  # first call after a switch: not timed
            for text in queries[start : start + LATENCY_BLOCK]:
                started = time.perf_counter()
                embedder.embed_query(text)
                results[name].query_ms.append((time.perf_counter() - started) * 1000)


def measure_quality(
    embedders: dict[str, Embedder], results: dict[str, Result], data: SciFact
) -> None:
    """Dense nDCG@10 of exact cosine search; document-vector agreement with the first backend."""
    doc_ids, texts = list(data.corpus), list(data.corpus.values())
    first: np.ndarray | None = None
    for name, embedder in embedders.items():
        started = time.perf_counter()
        docs = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
        results[name].corpus_s = time.perf_counter() - started
        queries = np.asarray(embedder.embed_documents(list(data.queries.values())))
        results[name].ndcg = ndcg_at_10(data, doc_ids, docs, queries.astype(np.float32))
        first = docs if first is None else first
        cosines = (docs * first).sum(axis=1)
        results[name].cos_mean, results[name].cos_min = float(cosines.mean()), float(cosines.min())
        console.print(f"{name}: corpus in {results[name].corpus_s:.0f} s, {_ndcg(results[name])}")


def _ndcg(result: Result) -> str:
    return f"nDCG@10 {result.ndcg:.4f}"


def ndcg_at_10(data: SciFact, doc_ids: list[str], docs: np.ndarray, queries: np.ndarray) -> float:
    """Mean nDCG@10 (ranx) of the top 100 by exact cosine (vectors are unit length)."""
    import ranx  # type: ignore[import-untyped]

    scores = queries @ docs.T
    top = np.argsort(-scores, axis=1)[:, :TOP_K]
    run = {
        query_id: {doc_ids[j]: float(scores[i, j]) for j in top[i]}
        for i, query_id in enumerate(data.queries)
    }
    with warnings.catch_warnings():
        # ranx's JIT kernels warn about a harmless uint64 -> int64 cast on first use.
        warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")
        value = ranx.evaluate(ranx.Qrels(data.qrels), ranx.Run(run), "ndcg@10")
    return float(value)


def table(results: dict[str, Result], opts: Options, data: SciFact) -> Table:
    """One row per backend, with the decision rule applied against torch."""
    out = Table(
        title=f"all-MiniLM-L6-v2 encoder, {os.cpu_count()} cores: throughput on {opts.docs} "
        f"SciFact abstracts (batch {opts.batch}, median of {opts.rounds}), {len(data.queries)} "
        f"test queries over {len(data.corpus)} docs"
    )
    columns = ["backend", "setup s", "chunks/s", "query p50 ms", "query p95 ms", "corpus s"]
    columns += ["nDCG@10", "Δ vs torch", "cos mean", "cos min", "default?"]
    for column in columns:
        out.add_column(column, justify="left" if column == "backend" else "right")
    base = results.get("torch")
    for result in results.values():
        out.add_row(*_row(result, base))
    return out


def _row(result: Result, base: Result | None) -> list[str]:
    delta = result.ndcg - base.ndcg if base else 0.0
    return [
        result.backend,
        f"{result.setup_s:.1f}",
        f"{result.chunks_per_s:.1f}",
        f"{percentile(result.query_ms, 50):.2f}",
        f"{percentile(result.query_ms, 95):.2f}",
        f"{result.corpus_s:.0f}",
        f"{result.ndcg:.4f}",
        f"{delta:+.4f}",
        f"{result.cos_mean:.4f}",
        f"{result.cos_min:.4f}",
        _verdict(result, base),
    ]


def _verdict(result: Result, base: Result | None) -> str:
    if base is None or result is base:
        return "baseline"
    faster = result.chunks_per_s > base.chunks_per_s
    equal = abs(result.ndcg - base.ndcg) <= TOLERANCE
    if faster and equal:
        return "yes"
    return "no: " + ", ".join([*(["slower"] if not faster else []), *([] if equal else ["nDCG"])])


def parse(argv: list[str] | None = None) -> Options:
    """Options from the command line; `--quick` shrinks every workload."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--docs", type=int, default=512, help="abstracts for throughput")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--queries", type=int, default=200, help="queries for latency")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus-limit", type=int, default=None, help="docs for nDCG")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8,onnx-int8 @1")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "enclave-onnx"
    )
    parser.add_argument("--quick", action="store_true", help="128 docs, 50 queries, 300-doc corpus")
    args = parser.parse_args(argv)
    quick = {"docs": 128, "queries": 50, "rounds": 1, "corpus_limit": 300} if args.quick else {}
    values = {k: v for k, v in vars(args).items() if k != "quick"} | quick
    values["backends"] = tuple(b.strip() for b in values["backends"].split(",") if b.strip())
    return Options(**values)


def main(argv: list[str] | None = None) -> None:
    """Build the backends, measure, print the table."""
    opts = parse(argv)
    data = load(opts.dataset, opts.corpus_limit)
    sample = list(_jsonl(opts.dataset / "corpus.jsonl"))[: opts.docs]
    texts = [f"{r['title']} {r['text']}" for r in sample]
    embedders, results = build(opts)
    measure_throughput(embedders, results, texts, opts.rounds)
    queries = [r["text"] for r in _jsonl(opts.dataset / "queries.jsonl")][: opts.queries]
    measure_latency(embedders, results, queries)
    measure_quality(embedders, results, data)
    console.print(table(results, opts, data))


if __name__ == "__main__":
    main()
