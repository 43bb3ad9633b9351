"""What `enclave eval` measured, and the table it prints."""

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from api.eval.beir import METRICS


@dataclass(frozen=True)
class ModeResult:
    """Mean metrics per query split (`all`, and `dev`/`test` when split) and latency."""

    mode: str
    metrics: dict[str, dict[str, float]]
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class EvalReport:
    """What `run_eval` measured."""

    dataset: str
    documents: int
    queries: int
    skipped: list[str]
    ingest_seconds: float
    rrf_k: int
    prefetch: int
    top_k: int
    results: list[ModeResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def percentile(sorted_values: list[float], pct: int) -> float:
    """The `pct`th percentile of sorted values, rounded to 0.01."""
    if len(sorted_values) < 2:
        return round(sorted_values[0], 2) if sorted_values else 0.0
    return round(statistics.quantiles(sorted_values, n=100, method="inclusive")[pct - 1], 2)


def render(report: EvalReport, console: Console) -> None:
    """The report as a table: one row per mode and query split."""
    table = Table(title=_title(report))
    for column in ("mode", "queries", "nDCG@10", "Recall@10", "Recall@100", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column in ("mode", "queries") else "right")
    for result in report.results:
        for split, values in result.metrics.items():
            timing = (
                (f"{result.p50_ms:.1f}", f"{result.p95_ms:.1f}") if split == "all" else ("", "")
            )
            scores = [f"{values[m]:.4f}" for m in METRICS]
            table.add_row(result.mode, split, *scores, *timing)
    console.print(table)
    if report.skipped:
        console.print(f"[yellow]{len(report.skipped)} document(s) did not index[/yellow]")


def _title(report: EvalReport) -> str:
    return (
        f"{Path(report.dataset).name}: {report.documents} documents, {report.queries} queries, "
        f"top_k={report.top_k}, rrf_k={report.rrf_k}, prefetch={report.prefetch}, "
        f"ingest {report.ingest_seconds:.0f} s"
    )
