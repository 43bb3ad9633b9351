"""Ingestion throughput, end to end through a real `enclave serve`, against the raw encoder.

What it measures
  1. End to end: a seeded generator writes a corpus of unique text-like documents
     (.txt/.md/.html/.csv/.json in a fixed mix, each a few hundred words). For each
     backend (the default embedded Qdrant Edge engine, and `ENCLAVE_QDRANT_URL=local`,
     qdrant-client local mode) a fresh `enclave serve` is started on a free port with
     its own ENCLAVE_DATA_DIR; a tenant and an admin key are created through the API;
     the corpus is uploaded with multipart `POST /v1/documents` in batches of `--batch`
     files; every job is polled until done. One document, in a tenant of its own, is indexed
     first and timed apart (it pays the parser process's start). The clock then runs from the
     first upload to the moment the last job is seen done. Chunks = the sum of
     `chunk_count` over the tenant's documents (`GET /v1/documents`). The peak RSS of
     the server process and its children (the parser process) is sampled every 0.25 s
     with psutil.
     Binary formats cannot be varied by appending text, so the first run includes each
     of `fixtures/acme/report.pdf` and `onboarding.docx` exactly once (`--no-binary`
     drops them); they are 2 of the documents, not a measurement of PDF/DOCX speed.
  2. The raw encoder: after the Edge server has stopped, the chunk texts it stored
     are read from its SQLite file (the exact texts the pipeline embedded), and a
     seeded sample of `--encoder-chunks` of them is embedded in this process with
     encoder the service builds (`api.services.build_embedder`) in calls of 64 texts
     (`Pipeline.batch_size`). A second row embeds whole documents one call each, as
     the pipeline really calls the encoder (a document's chunks per call).
  3. The ratio end-to-end chunks/s / encoder chunks/s (target >= 0.8 for text-like
     formats), and, from the documents' `updated_at` in SQLite, the mean time the
     single worker spent per document of each format.

qdrant-client local mode fsyncs per point and filters in Python, so it runs on the
first `--local-docs` documents of the same corpus (fewer by default; the table says so).

Run: `python benchmarks/ingest.py` (defaults), `--quick`, `--docs 5000`, `--backends edge`.
The machine is shared: figures are indicative.
"""

# ruff: noqa: E402
import sys
from pathlib import Path

# `python benchmarks/ingest.py` puts benchmarks/ first on sys.path, where `ingest.py` would
# shadow the project's `ingest` package: put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import itertools
import json
import random
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from benchmarks.harness import TOPICS, Server, mib, paragraph

REPO = Path(__file__).resolve().parent.parent
BINARY_FIXTURES = (REPO / "fixtures/acme/report.pdf", REPO / "fixtures/acme/onboarding.docx")
FORMATS = (("txt", 0.25), ("md", 0.25), ("html", 0.2), ("csv", 0.15), ("json", 0.15))
PIPELINE_BATCH = 64
console = Console(width=170)


@dataclass(frozen=True)
class Options:
    """Command-line options."""

    docs: int
    local_docs: int
    batch: int
    words: int
    encoder_chunks: int
    backends: tuple[str, ...]
    binary: bool
    seed: int
    workdir: Path | None


@dataclass
class RunResult:
    """One backend's end-to-end ingestion."""

    backend: str
    uploaded: int
    ready: int = 0
    failed: int = 0
    chunks: int = 0
    upload_s: float = 0.0
    elapsed_s: float = 0.0
    startup_s: float = 0.0
    warmup_s: float = 0.0
    peak_rss: int = 0
    client_cpu_s: float = 0.0  # this process's CPU while the clock ran (uploads, polling)
    embed_s: float = 0.0  # the worker's time inside the encoder (its `embed` stage)
    embedded: int = 0
    per_format_s: dict[str, list[float]] = field(default_factory=dict)
    chunk_texts: list[tuple[str, str]] = field(default_factory=list)  # (document id, text)


@dataclass(frozen=True)
class EncoderResult:
    """Raw encoder throughput on the stored chunk texts."""

    chunks: int
    batched_per_s: float
    per_document_per_s: float
    per_document_chunks: int


# ---------------------------------------------------------------- corpus


def _pick_format(rng: random.Random) -> str:
    roll, acc = rng.random(), 0.0
    for name, share in FORMATS:
        acc += share
        if roll < acc:
            return name
    return FORMATS[-1][0]


def _sections(rng: random.Random, topic: str, words: int) -> list[tuple[str, str]]:
    count = rng.randint(2, 4)
    return [
        (
            f"{topic.title()} {rng.choice(TOPICS[topic])} {i + 1}",
            paragraph(rng, topic, words // count),
        )
        for i in range(count)
    ]


def _render(kind: str, title: str, sections: list[tuple[str, str]], rng: random.Random) -> str:
    if kind == "md":
        body = "\n\n".join(f"## {h}\n\n{p}" for h, p in sections)
        return f"# {title}\n\n{body}\n"
    if kind == "html":
        body = "".join(f"<h2>{h}</h2><p>{p}</p>" for h, p in sections)
        return (
            f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
        )
    if kind == "csv":
        rows = [f'{i},"{h}",{rng.randint(1, 99)},"{p}"' for i, (h, p) in enumerate(sections, 1)]
        return "id,heading,owner,description\n" + "\n".join(rows) + "\n"
    if kind == "json":
        parts = [{"heading": h, "body": p} for h, p in sections]
        return json.dumps({"title": title, "sections": parts}, indent=1)
    return f"{title}\n\n" + "\n\n".join(f"{h}\n\n{p}" for h, p in sections) + "\n"


def make_corpus(count: int, words: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` unique text-like documents (name, bytes), the same for the same seed."""
    rng = random.Random(seed)
    corpus = []
    for number in range(count):
        kind, topic = _pick_format(rng), rng.choice(list(TOPICS))
        title = f"{topic.title()} note {number:05d}"
        size = rng.randint(words // 2, words * 3 // 2)
        text = _render(kind, title, _sections(rng, topic, size), rng)
        corpus.append((f"doc-{number:05d}.{kind}", text.encode()))
    return corpus


# ---------------------------------------------------------------- end to end


def _json(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return response.json()


def admin_key(server: Server, name: str = "bench") -> str:
    """Create a tenant and an admin key through the API with the operator key."""
    op = {"Authorization": f"Bearer {server.operator_key()}"}
    with httpx.Client(base_url=server.url, timeout=60, headers=op) as http:
        tenant = _json(http.post("/v1/tenants", json={"name": name}), 201)
        body = {"role": "admin", "name": "bench admin"}
        key: str = _json(http.post(f"/v1/tenants/{tenant['id']}/keys", json=body), 201)["key"]
    return key


def upload_all(http: httpx.Client, files: list[tuple[str, bytes]], batch: int) -> list[str]:
    """Upload in batches; return the job ids in upload order."""
    jobs = []
    for start in range(0, len(files), batch):
        parts = [
            ("files", (n, d, "application/octet-stream")) for n, d in files[start : start + batch]
        ]
        jobs.append(_json(http.post("/v1/documents", files=parts), 202)["job_id"])
    return jobs


def wait_jobs(http: httpx.Client, jobs: list[str], timeout_s: float) -> None:
    """Poll the jobs in order until each is done or failed."""
    deadline = time.monotonic() + timeout_s
    for job_id in jobs:
        while _json(http.get(f"/v1/jobs/{job_id}"), 200)["status"] not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} not done after {timeout_s:g} s")
            time.sleep(0.5)


def warm_up(server: Server) -> float:
    """Index one document in a tenant of its own; return the seconds it took.

    The parser process starts on the first upload (and stops when idle), so the first
    document pays its start (several seconds). That is a one-off, not throughput: it is reported
    on its own, and the measured corpus starts against a warm server.
    """
    headers = {"Authorization": f"Bearer {admin_key(server, 'warm-up')}"}
    with httpx.Client(base_url=server.url, timeout=300, headers=headers) as http:
        started = time.perf_counter()
        jobs = upload_all(http, [("warm-up.txt", b"Warm-up\n\nOne short paragraph.\n")], 1)
        wait_jobs(http, jobs, timeout_s=600)
        return time.perf_counter() - started


def document_stats(http: httpx.Client, result: RunResult) -> None:
    """Ready/failed counts and the sum of chunk_count, paging `GET /v1/documents`."""
    offset: int | None = 0
    while offset is not None:
        page = _json(http.get("/v1/documents", params={"limit": 200, "offset": offset}), 200)
        for doc in page["documents"]:
            result.ready += doc["status"] == "ready"
            result.failed += doc["status"] == "failed"
            result.chunks += doc["chunk_count"]
        offset = page["next_offset"]


def embed_stage(http: httpx.Client) -> tuple[float, int]:
    """From `/metrics`: seconds the worker spent embedding, and the passages it embedded."""
    text = http.get("/metrics").text
    seconds = re.search(
        r'^enclave_ingest_stage_duration_seconds_sum\{stage="embed"\} (\S+)$', text, re.M
    )
    count = re.search(r"^enclave_embeddings_total (\S+)$", text, re.M)
    return (float(seconds[1]) if seconds else 0.0, int(float(count[1])) if count else 0)


def run_backend(
    backend: str, files: list[tuple[str, bytes]], opts: Options, root: Path
) -> RunResult:
    """Start a server for `backend`, ingest `files`, stop it, read back what it stored."""
    data_dir = root / backend / "data"
    env = {"ENCLAVE_QDRANT_URL": "local"} if backend == "qdrant-local" else {}
    result = RunResult(backend, uploaded=len(files))
    with Server(data_dir, env) as server:
        result.startup_s = server.startup_s
        result.warmup_s = warm_up(server)
        headers = {"Authorization": f"Bearer {admin_key(server)}"}
        with httpx.Client(base_url=server.url, timeout=300, headers=headers) as http:
            started, cpu = time.perf_counter(), time.process_time()
            jobs = upload_all(http, files, opts.batch)
            result.upload_s = time.perf_counter() - started
            wait_jobs(http, jobs, timeout_s=3 * 3600)
            result.elapsed_s = time.perf_counter() - started
            result.client_cpu_s = time.process_time() - cpu
            document_stats(http, result)
            result.embed_s, result.embedded = embed_stage(http)
        server.stop()
        result.peak_rss = server.rss.peak
    read_back(data_dir, result)
    return result


def read_back(data_dir: Path, result: RunResult) -> None:
    """From the stopped server's SQLite: chunk texts, and per-format time per document."""
    from retrieval.models import Chunk, Document
    from tenancy import db

    engine = db.make_engine(f"sqlite:///{(data_dir / 'enclave.db').resolve()}")
    try:
        with db.session_factory(engine)() as session:
            rows = session.execute(
                select(Chunk.document_id, Chunk.text).order_by(Chunk.document_id, Chunk.ordinal)
            )
            result.chunk_texts = [(str(d), t) for d, t in rows]
            docs = session.execute(
                select(Document.media_type, Document.updated_at).order_by(Document.updated_at)
            )
            result.per_format_s = _gaps(list(docs))
    finally:
        engine.dispose()


def _gaps(docs: list[Any]) -> dict[str, list[float]]:
    """One worker processes documents in turn: the gap between finish times is each one's cost."""
    gaps: dict[str, list[float]] = defaultdict(list)
    for previous, current in itertools.pairwise(docs):
        gaps[current[0]].append((current[1] - previous[1]).total_seconds())
    return gaps


# ---------------------------------------------------------------- encoder


def encoder_throughput(texts: list[tuple[str, str]], sample: int, seed: int) -> EncoderResult:
    """Embed a seeded sample in calls of 64; then whole documents one call each.

    The encoder is the one the service builds from the same settings (ENCLAVE_EMBEDDING_BACKEND).
    """
    import tempfile

    from api.services import build_embedder
    from api.settings import Settings

    embedder = build_embedder(Settings(data_dir=Path(tempfile.mkdtemp(prefix="enclave-enc-"))))
    embedder.embed_documents([t for _, t in texts[:PIPELINE_BATCH]])  # warm up
    rng = random.Random(seed)
    chosen = rng.sample([t for _, t in texts], min(sample, len(texts)))
    started = time.perf_counter()
    for start in range(0, len(chosen), PIPELINE_BATCH):
        embedder.embed_documents(chosen[start : start + PIPELINE_BATCH])
    batched = len(chosen) / (time.perf_counter() - started)
    groups = _documents_sample(texts, sample // 2, rng)
    started = time.perf_counter()
    for group in groups:
        embedder.embed_documents(group)
    per_doc_chunks = sum(len(g) for g in groups)
    per_doc = per_doc_chunks / (time.perf_counter() - started)
    return EncoderResult(len(chosen), batched, per_doc, per_doc_chunks)


def _documents_sample(
    texts: list[tuple[str, str]], at_least: int, rng: random.Random
) -> list[list[str]]:
    by_doc: dict[str, list[str]] = defaultdict(list)
    for doc_id, text in texts:
        by_doc[doc_id].append(text)
    ids = list(by_doc)
    rng.shuffle(ids)
    groups: list[list[str]] = []
    while ids and sum(len(g) for g in groups) < at_least:
        groups.append(by_doc[ids.pop()])
    return groups


# ---------------------------------------------------------------- report


def report(runs: list[RunResult], encoder: EncoderResult | None, opts: Options) -> None:
    """Print the tables."""
    console.print(_e2e_table(runs, encoder, opts))
    if encoder is not None:
        console.print(_encoder_table(encoder))
    console.print(_format_table(runs))


def _e2e_table(runs: list[RunResult], encoder: EncoderResult | None, opts: Options) -> Table:
    table = Table(
        title="Ingestion end to end (real `enclave serve`, multipart uploads, jobs polled)"
    )
    for name in (
        "backend",
        "docs",
        "ready/failed",
        "chunks",
        "upload s",
        "total s",
        "warm-up s",
        "docs/s",
        "chunks/s",
        "e2e/encoder",
        "e2e/per-doc encoder",
        "client CPU s",
        "encoder busy",
        "chunks/s while embedding",
        "peak RSS",
        "note",
    ):
        table.add_column(name, justify="left" if name in ("backend", "note") else "right")
    for run in runs:
        rate = run.chunks / run.elapsed_s
        ratio = f"{rate / encoder.batched_per_s:.2f}" if encoder else "-"
        per_doc = f"{rate / encoder.per_document_per_s:.2f}" if encoder else "-"
        note = "" if run.backend == "edge" else f"fewer docs (--local-docs {opts.local_docs})"
        table.add_row(
            run.backend,
            str(run.uploaded),
            f"{run.ready}/{run.failed}",
            f"{run.chunks:,}",
            f"{run.upload_s:.1f}",
            f"{run.elapsed_s:.1f}",
            f"{run.warmup_s:.1f}",
            f"{run.ready / run.elapsed_s:.1f}",
            f"{rate:.1f}",
            ratio,
            per_doc,
            f"{run.client_cpu_s:.1f}",
            f"{run.embed_s / run.elapsed_s:.0%}",
            f"{run.embedded / run.embed_s:.1f}" if run.embed_s else "-",
            mib(run.peak_rss),
            note,
        )
    table.caption = (
        f"corpus: seeded text-like docs (~{opts.words} words avg, batch {opts.batch})"
        + (" + report.pdf and onboarding.docx once each" if opts.binary else "")
        + "; e2e/encoder = e2e chunks/s ÷ raw encoder chunks/s at 64 per call (target ≥ 0.8); "
        "per-doc encoder = one document's chunks per call; client CPU s = this benchmark "
        "process's own CPU while the clock ran (it shares the cores); encoder busy = share of the "
        "total time the worker spent in the encoder (its `embed` stage, from /metrics), and "
        "chunks/s while embedding = the passages it embedded over that time; "
        "warm-up s = one document indexed before the clock starts (the parser process's start, "
        "a one-off after start-up or idleness)"
    )
    return table


def _encoder_table(encoder: EncoderResult) -> Table:
    table = Table(title="Raw encoder (all-MiniLM-L6-v2, sentence-transformers, this process)")
    for name in ("calls", "chunks", "chunks/s"):
        table.add_column(name, justify="right" if name != "calls" else "left")
    table.add_row(
        "64 chunk texts per call (Pipeline.batch_size)",
        str(encoder.chunks),
        f"{encoder.batched_per_s:.1f}",
    )
    table.add_row(
        "one document's chunks per call (what the pipeline does)",
        str(encoder.per_document_chunks),
        f"{encoder.per_document_per_s:.1f}",
    )
    table.caption = (
        "texts: the chunk texts the Edge server stored (read from its SQLite after it stopped)"
    )
    return table


def _format_table(runs: list[RunResult]) -> Table:
    table = Table(title="Worker time per document by format (gaps between documents' updated_at)")
    table.add_column("backend")
    table.add_column("media type")
    for name in ("docs", "mean ms", "p50 ms", "max ms"):
        table.add_column(name, justify="right")
    for run in runs:
        for media_type, gaps in sorted(run.per_format_s.items()):
            ordered = sorted(gaps)
            table.add_row(
                run.backend,
                media_type,
                str(len(gaps)),
                f"{1000 * sum(gaps) / len(gaps):.0f}",
                f"{1000 * ordered[len(ordered) // 2]:.0f}",
                f"{1000 * ordered[-1]:.0f}",
            )
    return table


# ---------------------------------------------------------------- main


def parse_args() -> Options:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="documents for the Edge backend")
    parser.add_argument("--local-docs", type=int, default=200, help="documents for qdrant-local")
    parser.add_argument("--batch", type=int, default=50, help="files per upload request")
    parser.add_argument("--words", type=int, default=220, help="average words per document")
    parser.add_argument(
        "--encoder-chunks", type=int, default=512, help="chunks for the raw encoder"
    )
    parser.add_argument(
        "--backends", default="edge,qdrant-local", help="comma list: edge,qdrant-local"
    )
    parser.add_argument(
        "--no-binary", action="store_true", help="leave out the PDF and DOCX fixtures"
    )
    parser.add_argument(
        "--quick", action="store_true", help="200 docs, 100 local, 256 encoder chunks"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="keep data here instead of a temp dir")
    args = parser.parse_args()
    if args.quick:
        args.docs, args.local_docs, args.encoder_chunks = 200, 100, 256
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    return Options(
        args.docs,
        args.local_docs,
        args.batch,
        args.words,
        args.encoder_chunks,
        backends,
        not args.no_binary,
        args.seed,
        args.workdir,
    )


def main() -> None:
    """Generate, ingest on each backend, measure the encoder, print."""
    opts = parse_args()
    binary = [(p.name, p.read_bytes()) for p in BINARY_FIXTURES] if opts.binary else []
    corpus = make_corpus(max(opts.docs, opts.local_docs), opts.words, opts.seed)
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as tmp:
        root = opts.workdir or Path(tmp)
        for backend in opts.backends:
            count = opts.docs if backend == "edge" else opts.local_docs
            console.print(f"[bold]{backend}[/bold]: ingesting {count + len(binary)} documents…")
            runs.append(run_backend(backend, binary + corpus[:count], opts, root))
            console.print(f"  done in {runs[-1].elapsed_s:.1f} s")
    source = next((r for r in runs if r.backend == "edge"), runs[0] if runs else None)
    encoder = None
    if source is not None and source.chunk_texts:
        console.print("raw encoder on the stored chunk texts…")
        encoder = encoder_throughput(source.chunk_texts, opts.encoder_chunks, opts.seed)
    report(runs, encoder, opts)


if __name__ == "__main__":
    main()
