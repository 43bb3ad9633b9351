"""`enclave eval`: a BEIR dataset through the real ingestion and search path of one tenant."""

import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import select

from api.eval.beir import SUFFIX, Beir, beir_id, dev_test, load_beir, scores
from api.eval.report import EvalReport, ModeResult, percentile, render
from api.ops import migrate
from api.services import Services, build, build_embedder
from api.settings import Settings
from ingest import upload
from ingest.errors import IngestError
from retrieval import search as searching
from retrieval.embed import Embedder
from retrieval.models import Document, DocumentStatus
from retrieval.points import Mode
from tenancy import tenants
from tenancy.ids import TenantId
from tenancy.models import Tenant
from tenancy.scope import Scope

MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")
TOP_K = 100
BATCH = 256


def run_eval(
    dataset: Path,
    *,
    settings: Settings,
    embedder: Embedder | None = None,
    split_dev: bool = False,
    limit_docs: int | None = None,
    limit_queries: int | None = None,
    top_k: int = TOP_K,
    modes: Sequence[str] = (),
) -> EvalReport:
    """Ingest the corpus into one tenant, search every query in every mode, score the runs."""
    if unknown := set(modes) - {*MODES, "rerank"}:
        raise ValueError(f"unknown mode(s): {', '.join(sorted(unknown))}")
    beir = load_beir(dataset, limit_docs=limit_docs, limit_queries=limit_queries)
    # Uncached by default: a query vector cached by one mode would flatter the next's latency.
    services = build(settings, embedder=embedder or build_embedder(settings))
    try:
        migrate.upgrade(services.engine)
        tenant_id = _tenant(services, f"beir-eval-{dataset.resolve().name}")
        started = time.perf_counter()
        skipped = _ingest(services, tenant_id, beir)
        ingest_seconds = time.perf_counter() - started
        results = [
            _evaluate(services, tenant_id, beir, mode, split_dev=split_dev, top_k=top_k)
            for mode in modes or _modes(services)
        ]
    finally:
        services.close()
    return EvalReport(
        dataset=str(dataset),
        documents=len(beir.corpus) - len(skipped),
        queries=len(beir.queries),
        skipped=skipped,
        ingest_seconds=round(ingest_seconds, 1),
        rrf_k=settings.rrf_k,
        prefetch=settings.hybrid_prefetch,
        top_k=top_k,
        results=results,
    )


def _modes(services: Services) -> list[str]:
    return [*MODES, "rerank"] if services.reranker is not None else list(MODES)


def _tenant(services: Services, name: str) -> TenantId:
    """The eval tenant, reused when the data dir already has it (resumes an ingestion)."""
    with services.sessions.begin() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()
        tenant = tenant or tenants.create(session, name=name)
        session.flush()
        return TenantId(tenant.id)


def _ingest(services: Services, tenant_id: TenantId, beir: Beir) -> list[str]:
    """Upload what the tenant lacks in batches, drain the worker; ids that did not index."""
    ready = _ready(services, tenant_id)
    todo = [d for d in beir.corpus if d not in ready]
    for start in range(0, len(todo), BATCH):
        _enqueue(services, tenant_id, beir, todo[start : start + BATCH])
        services.worker.drain()
    ready = _ready(services, tenant_id)
    return [d for d in beir.corpus if d not in ready]


def _ready(services: Services, tenant_id: TenantId) -> set[str]:
    with services.sessions() as session:
        scope = Scope(session, tenant_id)
        query = scope.select(Document).where(Document.status == DocumentStatus.READY)
        return {beir_id(doc.filename) for doc in scope.all(query)}


def _enqueue(services: Services, tenant_id: TenantId, beir: Beir, ids: Sequence[str]) -> None:
    """Queue one job for the batch; a file the upload path rejects is left out, not fatal."""
    options = upload.UploadOptions(max_file_bytes=services.settings.max_upload_bytes)
    accepted: list[upload.Accepted] = []
    for doc_id in ids:
        file = upload.IncomingFile(f"{doc_id}{SUFFIX}", beir.corpus[doc_id].encode("utf-8"))
        with suppress(IngestError):  # reported with the documents that did not index
            accepted += upload.accept([file], options)
    if accepted:
        with services.sessions.begin() as session:
            upload.enqueue(Scope(session, tenant_id), services.blobs, accepted, options)


def _evaluate(
    services: Services, tenant_id: TenantId, beir: Beir, mode: str, *, split_dev: bool, top_k: int
) -> ModeResult:
    run, seconds = _run(services, tenant_id, beir, mode, top_k)
    splits = {"all": list(beir.queries)}
    if split_dev:
        splits |= dev_test(list(beir.queries))
    metrics = {name: scores(beir.qrels, run, ids) for name, ids in splits.items()}
    millis = sorted(s * 1000 for s in seconds)
    return ModeResult(mode, metrics, percentile(millis, 50), percentile(millis, 95))


def _run(
    services: Services, tenant_id: TenantId, beir: Beir, mode: str, top_k: int
) -> tuple[dict[str, list[str]], list[float]]:
    """Every query through `search`; per query the BEIR ids, best first, and the time taken."""
    run: dict[str, list[str]] = {}
    seconds: list[float] = []
    with services.sessions() as session:
        scope = Scope(session, tenant_id)
        for query_id, text in beir.queries.items():
            started = time.perf_counter()
            request = _request(services, text, mode, top_k)
            found = searching.search(scope, services.retriever, request, key_id=None)
            seconds.append(time.perf_counter() - started)
            run[query_id] = _ranked_documents(found.record.results)
        session.rollback()  # the eval leaves no search records behind
    if mode == "rerank":
        hybrid, _ = _run(services, tenant_id, beir, "hybrid", top_k)
        run = {q: list(dict.fromkeys([*run[q], *hybrid[q]])) for q in run}
    return run, seconds


def _request(services: Services, text: str, mode: str, top_k: int) -> searching.SearchRequest:
    if mode == "rerank":
        # The cross-encoder re-scores only the head; the hybrid tail follows it (see `_run`).
        head = services.settings.rerank_candidates
        return searching.SearchRequest(text, top_k=head, mode="hybrid", rerank=True)
    return searching.SearchRequest(text, top_k=top_k, mode=mode)  # type: ignore[arg-type]


def _ranked_documents(results: list[dict[str, Any]]) -> list[str]:
    """Chunks to documents: each document ranks at its best chunk."""
    return list(dict.fromkeys(beir_id(r["citation"]["filename"]) for r in results))


def eval_command(
    dataset: Annotated[
        Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep (and reuse) the eval's stores here; default: a temp dir."),
    ] = None,
    split_dev: Annotated[
        bool, typer.Option(help="Also report odd query ids (dev) and even ones (test) apart.")
    ] = False,
    rrf_k: Annotated[int | None, typer.Option(min=1, help="Override ENCLAVE_RRF_K.")] = None,
    prefetch: Annotated[
        int | None, typer.Option(min=1, help="Override ENCLAVE_HYBRID_PREFETCH.")
    ] = None,
    limit_queries: Annotated[
        int | None, typer.Option(min=1, help="First N judged queries.")
    ] = None,
    limit_docs: Annotated[
        int | None, typer.Option(min=1, help="N documents, judged first.")
    ] = None,
    top_k: Annotated[
        int, typer.Option(min=1, help="Chunks per search (hybrid prefetch is at least 2x this).")
    ] = TOP_K,
    mode: Annotated[
        list[str] | None, typer.Option(help="Only these modes (repeatable); default: all.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report here.")
    ] = None,
) -> None:
    """Score dense, sparse and hybrid search (and rerank when configured) on a BEIR dataset."""
    overrides = {"rrf_k": rrf_k, "hybrid_prefetch": prefetch}
    with _data_dir(data_dir) as root:
        settings = _eval_settings(root, {k: v for k, v in overrides.items() if v is not None})
        report = run_eval(
            dataset,
            settings=settings,
            split_dev=split_dev,
            limit_docs=limit_docs,
            limit_queries=limit_queries,
            top_k=top_k,
            modes=mode or (),
        )
    render(report, Console())
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")


def _eval_settings(root: Path, overrides: dict[str, int]) -> Settings:
    """The environment's settings on private stores: never a live database or Qdrant."""
    private = {"data_dir": root, "database_url": None, "qdrant_url": None}
    return Settings().model_copy(update={**private, **overrides})


@contextmanager
def _data_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="enclave-eval-") as tmp:
        yield Path(tmp)
