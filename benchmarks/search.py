"""Search latency and throughput over HTTP against a real `enclave serve`, and its floor.

How the data is loaded (fast, through the real code paths, before the server starts)
  In a fresh ENCLAVE_DATA_DIR this process migrates the SQLite database
  (`api.migrate.upgrade`), creates tenants and reader keys with
  `tenancy.tenants.create` / `tenancy.keys.issue`, inserts `retrieval.models.Document`
  rows (`status="ready"`, canonical text = chunk texts joined by a blank line, 10 chunks
  per document) and their `Chunk` rows (exact offsets, ids = `point_id(doc, ordinal)`),
  and upserts `IndexPoint`s through `retrieval.edge.EdgeIndex` on `<data>/edge`, the
  same engine and layout the server opens. Vectors: a pool of `--pool` synthetic
  passages is embedded with the service's encoder (`api.services.build_embedder`); each
  chunk is one pool passage plus one fresh synthetic sentence (so every chunk text,
  and its sha256, is unique), its dense vector is the passage's vector plus Gaussian
  noise (σ=0.3 over the whole vector, cosine ≈ 0.96 to the passage), re-normalised,
  and its sparse vector is `retrieval.sparse.encode_document` of its real text.
  A tenant past `edge_hnsw_threshold` (20k) points gets its HNSW index built before
  the server starts with `EdgeIndex.optimize_if_needed` (the same out-of-process
  build the server runs in the background); the load table reports how long it took.

What is measured
  * Scenarios: one tenant with `--chunks` (10k); `--tenants` × `--tenant-chunks`
    (1,000 × 100); with `--large` also one tenant with `--large-chunks` (100k).
  * For each single-tenant scenario, and for 50 warm tenants of the multi-tenant one:
    `--requests` searches per cell at 1, 4 and 16 concurrent clients (threads, one
    httpx.Client each, loopback), modes `dense` and `hybrid`, top_k 5; p50/p95/p99
    latency, throughput and errors. Every query text is distinct, so the server's
    query-vector cache never hits.
  * Cold tenants: the first search (hybrid) to each of `--cold` tenants never queried
    since the server started (their shards are not open), then a second one.
  * The floor. In 1-client cells every search is followed by one in-process
    `embed_query` with the encoder the server builds (same settings, same ONNX file;
    server idle meanwhile), so the encoder is sampled under the same machine load as the
    service; after the server has stopped, `sparse.encode_query` + `EdgeIndex.query`
    (warm shard) and the encoder again are timed in this process. Ratio = service p50 /
    (interleaved encode p50 + index p50). Encoder-only query throughput: distinct queries
    embedded by as many threads as the encoder runs at once (`ENCODER_PARALLEL`), the
    ceiling of a service whose only work would be encoding. Cold floor: the first
    `EdgeIndex.query` of a never-opened tenant shard (it opens it).
  * The server runs with its per-key/per-tenant rate limits lifted (see
    `common.NO_RATE_LIMITS`): the benchmark measures capacity, not the limiter.
  * Server memory: RSS of the server process and of its children (the parser pool, an
    HNSW build), from /proc/PID/status every 0.25 s; the peak of their sum, with the
    server's anonymous vs file-backed (mmapped shard files, libraries) split and each
    child's share; the same at each phase; the tree's PSS (shared library pages split
    between the processes instead of counted in each); the server's VmHWM.

Run: `python benchmarks/search.py` (10k + 1,000×100), `--large` (adds 100k), `--quick`.
The machine is shared: figures are indicative.
"""

# ruff: noqa: E402
import sys
from pathlib import Path

# `python benchmarks/search.py` puts benchmarks/ first on sys.path, where `ingest.py` would
# shadow the project's `ingest` package: put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import hashlib
import itertools
import os
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert
from sqlalchemy import text as sql_text

from api.ops import migrate
from api.services import build_embedder
from api.settings import Settings
from benchmarks.harness import (
    TOPICS,
    RssSampler,
    Server,
    TreeSample,
    mib,
    paragraph,
    percentile,
    query_text,
    sentence,
)
from retrieval import sparse
from retrieval.edge import EdgeIndex
from retrieval.embed import Embedder
from retrieval.models import Chunk, Document, DocumentAccess
from retrieval.onnx_embed import DEFAULT_PARALLEL as ENCODER_PARALLEL
from retrieval.points import PAYLOAD_VERSION, IndexPoint, IndexQuery, Mode, PointPayload, point_id
from tenancy import db, keys, tenants
from tenancy.ids import TenantId
from tenancy.roles import Role
from tenancy.scope import Scope

CHUNKS_PER_DOC = 10
NOISE = 0.3
TOP_K = 5
OVERFETCH = 2  # retrieval.search.OVERFETCH
console = Console(width=170)


@dataclass(frozen=True)
class Options:
    """Command-line options."""

    chunks: int
    tenants: int
    tenant_chunks: int
    large: bool
    large_chunks: int
    cold: int
    requests: int
    clients: tuple[int, ...]
    modes: tuple[Mode, ...]
    pool: int
    floor_queries: int
    seed: int
    workdir: Path | None


@dataclass(frozen=True)
class BenchTenant:
    """A loaded tenant and its reader key."""

    id: TenantId
    key: str
    chunks: int


@dataclass
class Scenario:
    """A named set of tenants with its load figures."""

    name: str
    tenants: list[BenchTenant]
    load_s: float = 0.0
    hnsw_s: float | None = None
    hnsw_rss: int = 0


@dataclass(frozen=True)
class Cell:
    """One (scenario, mode, clients) measurement."""

    scenario: str
    mode: str
    clients: int
    latencies: list[float]
    errors: dict[str, int]
    wall_s: float
    encode: list[float] = field(default_factory=list)


@dataclass
class Floor:
    """Per-query times measured in-process, seconds."""

    encode: list[float] = field(default_factory=list)
    index: list[float] = field(default_factory=list)

    @property
    def total(self) -> list[float]:
        """Encode + index per query."""
        return [a + b for a, b in zip(self.encode, self.index, strict=True)]


# ---------------------------------------------------------------- loading


class Loader:
    """Writes tenants, keys, documents, chunks and points into a data dir (server stopped)."""

    def __init__(
        self,
        data_dir: Path,
        embedder: Embedder,
        opts: Options,
        *,
        database_url: str | None = None,
        analyze: bool = True,
    ) -> None:
        self.analyze = analyze  # PostgreSQL: ANALYZE the loaded tables at close
        self.settings = Settings(data_dir=data_dir, database_url=database_url)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = db.make_engine(self.settings.resolved_database_url())
        migrate.upgrade(self.engine)
        self.sessions = db.session_factory(self.engine)
        self.index = EdgeIndex(
            data_dir / "edge",
            dimension=embedder.dimension,
            max_open_shards=self.settings.edge_max_open_shards,
            hnsw_threshold=self.settings.edge_hnsw_threshold,
            background_optimize=False,
        )
        self.rng = random.Random(opts.seed)
        self.np_rng = np.random.default_rng(opts.seed)
        topics = list(TOPICS)
        self.pool = [paragraph(self.rng, topics[i % len(topics)], 60) for i in range(opts.pool)]
        self.pool_topics = [topics[i % len(topics)] for i in range(opts.pool)]
        self.pool_vectors = np.array(embedder.embed_documents(self.pool), dtype=np.float32)
        self.created_at = datetime.now(UTC)
        self.documents = 0

    def tokens(self, document: int) -> tuple[str, ...]:
        """The access tokens of the loader's `document`-th document: tenant-wide here."""
        return ("*",)

    def tenant(self, name: str, chunks: int) -> BenchTenant:
        """One tenant with a reader key and `chunks` chunks in documents of 10."""
        with self.sessions.begin() as session:
            row = tenants.create(session, name=name)
            tenant_id = TenantId(row.id)
            key = keys.issue(Scope(session, tenant_id), keys.KeySpec(Role.READER, "bench")).key
        for start in range(0, chunks, 1000):
            self._documents(tenant_id, min(1000, chunks - start))
        return BenchTenant(tenant_id, key, chunks)

    def _documents(self, tenant_id: TenantId, chunks: int) -> None:
        """Documents holding `chunks` chunks: SQL rows first, then their points."""
        picks = self.rng.choices(range(len(self.pool)), k=chunks)
        texts = [f"{self.pool[p]} {sentence(self.rng, self.pool_topics[p])}" for p in picks]
        points: list[IndexPoint] = []
        with self.sessions.begin() as session:
            for start in range(0, chunks, CHUNKS_PER_DOC):
                group = texts[start : start + CHUNKS_PER_DOC]
                doc, rows = self._document(tenant_id, group)
                session.add(doc)
                session.flush()
                session.execute(insert(Chunk), rows)
                access = self.tokens(self.documents)
                self.documents += 1
                session.execute(insert(DocumentAccess), _access_rows(doc, access))
                vectors = self._vectors(picks[start : start + CHUNKS_PER_DOC])
                points += self._points(doc, rows, vectors, access)
        self.index.upsert(tenant_id, points)

    def _document(
        self, tenant_id: TenantId, texts: list[str]
    ) -> tuple[Document, list[dict[str, Any]]]:
        doc_id = uuid.uuid4()
        body = "\n\n".join(texts)
        rows, offset = [], 0
        for ordinal, text in enumerate(texts):
            rows.append(
                {
                    "id": point_id(doc_id, ordinal),
                    "tenant_id": tenant_id,
                    "document_id": doc_id,
                    "ordinal": ordinal,
                    "text": text,
                    "char_start": offset,
                    "char_end": offset + len(text),
                    "page_start": None,
                    "page_end": None,
                    "section": None,
                    "sha256": hashlib.sha256(text.encode()).hexdigest(),
                }
            )
            offset += len(text) + 2
        doc = Document(
            id=doc_id,
            tenant_id=tenant_id,
            filename=f"{doc_id.hex[:8]}.txt",
            media_type="text/plain",
            sha256=hashlib.sha256(body.encode()).hexdigest(),
            size_bytes=len(body.encode()),
            status="ready",
            chunk_count=len(texts),
            text=body,
            created_at=self.created_at,
            payload_version=PAYLOAD_VERSION,
        )
        return doc, rows

    def _vectors(self, picks: list[int]) -> np.ndarray:
        dim = self.pool_vectors.shape[1]
        noise = self.np_rng.standard_normal((len(picks), dim)).astype(np.float32)
        vectors = self.pool_vectors[picks] + noise * (NOISE / np.sqrt(dim))
        normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return normalised

    def _points(
        self,
        doc: Document,
        rows: list[dict[str, Any]],
        vectors: np.ndarray,
        access: tuple[str, ...],
    ) -> list[IndexPoint]:
        payload = PointPayload(
            tenant_id=doc.tenant_id,
            document_id=doc.id,
            version=1,
            media_type=doc.media_type,
            created_at=self.created_at,
            access=access,
        )
        return [
            IndexPoint(
                id=row["id"],
                dense=vector.tolist(),
                sparse=sparse.encode_document(row["text"]),
                payload=payload,
            )
            for row, vector in zip(rows, vectors, strict=True)
        ]

    def optimize(self, tenant: BenchTenant) -> tuple[float, int]:
        """Build HNSW for a big tenant now (blocking); seconds taken, peak RSS of the child."""
        started = time.perf_counter()
        sampler = RssSampler(os.getpid(), pss_every=10**9)  # the build runs in a child of ours
        try:
            if not self.index.optimize_if_needed(tenant.id):
                raise RuntimeError(f"HNSW build did not run for {tenant.chunks} points")
        finally:
            sampler.stop()
        return time.perf_counter() - started, sampler.children_peak

    def close(self) -> None:
        """Flush and close the shards and the database."""
        self.index.close()
        if self.analyze and self.engine.dialect.name == "postgresql":
            # What autovacuum does within a minute of a bulk load (when it is on): without
            # statistics the planner resolves hits documents-first, ~100x slower.
            # Our tables only: a bare ANALYZE would visit every schema of the database.
            tables = ", ".join(db.Base.metadata.tables)
            with self.engine.begin() as connection:
                connection.execute(sql_text(f"ANALYZE {tables}"))
        self.engine.dispose()


def _access_rows(doc: Document, tokens: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"id": uuid.uuid4(), "tenant_id": doc.tenant_id, "document_id": doc.id, "token": token}
        for token in tokens
    ]


def load(loader: Loader, opts: Options) -> list[Scenario]:
    """Create every scenario's tenants; build HNSW where the server would."""
    plan = [
        ("10k", 1, opts.chunks),
        (f"{opts.tenants}×{opts.tenant_chunks}", opts.tenants, opts.tenant_chunks),
    ]
    if opts.large:
        plan.append(
            (
                "100k" if opts.large_chunks == 100_000 else f"{opts.large_chunks}",
                1,
                opts.large_chunks,
            )
        )
    scenarios = []
    for name, count, chunks in [entry for entry in plan if entry[2] > 0]:
        console.print(f"loading {name}: {count} tenant(s) × {chunks:,} chunks…")
        started = time.perf_counter()
        scenario = Scenario(name, [loader.tenant(f"{name}-{i}", chunks) for i in range(count)])
        scenario.load_s = time.perf_counter() - started
        if chunks >= loader.settings.edge_hnsw_threshold:
            console.print(f"  building HNSW for {chunks:,} points…")
            scenario.hnsw_s, scenario.hnsw_rss = loader.optimize(scenario.tenants[0])
        scenarios.append(scenario)
    return scenarios


# ---------------------------------------------------------------- HTTP load


def run_cell(
    url: str,
    scenario: str,
    tenants: list[BenchTenant],
    mode: Mode,
    clients: int,
    opts: Options,
    probe: Embedder | None = None,
) -> Cell:
    """`opts.requests` searches by `clients` threads over the tenants' reader keys.

    With `probe` (1 client only), each search is followed by one in-process
    `embed_query`, so the encoder floor is sampled under the same machine load.
    """
    rng = random.Random(f"{opts.seed}-{scenario}-{mode}-{clients}")
    count = opts.requests + 2 * clients
    jobs = [(tenants[i % len(tenants)].key, query_text(rng)) for i in range(count)]
    warm, measured = jobs[: 2 * clients], jobs[2 * clients :]
    _drive(url, warm, mode, clients, None)
    started = time.perf_counter()
    latencies, errors, encode = _drive(url, measured, mode, clients, probe)
    return Cell(scenario, mode, clients, latencies, errors, time.perf_counter() - started, encode)


def _drive(
    url: str,
    jobs: list[tuple[str, str]],
    mode: Mode,
    clients: int,
    probe: Embedder | None,
) -> tuple[list[float], dict[str, int], list[float]]:
    """Run the jobs on `clients` threads: latencies of successes, errors by kind, probes."""
    feed = iter(jobs)
    lock = threading.Lock()
    latencies: list[float] = []
    encode: list[float] = []
    errors: dict[str, int] = {}

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while (job := _next(feed, lock)) is not None:
                outcome, seconds = _search(http, job[0], job[1], mode)
                probed = _probe(probe, job[1])
                with lock:
                    if probed is not None:
                        encode.append(probed)
                    if outcome == "ok":
                        latencies.append(seconds)
                    else:
                        errors[outcome] = errors.get(outcome, 0) + 1

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return latencies, errors, encode


def _next(feed: Iterator[tuple[str, str]], lock: threading.Lock) -> tuple[str, str] | None:
    with lock:
        return next(feed, None)


def _probe(probe: Embedder | None, text: str) -> float | None:
    if probe is None:
        return None
    started = time.perf_counter()
    probe.embed_query(text + " probe")
    return time.perf_counter() - started


def _search(http: httpx.Client, key: str, query: str, mode: Mode) -> tuple[str, float]:
    """("ok" | HTTP status | "empty" | exception name, seconds) of one search."""
    body = {"query": query, "top_k": TOP_K, "mode": mode}
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    try:
        response = http.post("/v1/search", json=body, headers=headers)
        if response.status_code != 200:
            outcome = str(response.status_code)
        else:
            outcome = "ok" if response.json()["results"] else "empty"
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    return outcome, time.perf_counter() - started


def cold_queries(
    url: str, tenants: list[BenchTenant], seed: int
) -> tuple[list[float], list[float], int]:
    """First then second hybrid search to each tenant, sequentially."""
    rng = random.Random(f"{seed}-cold")
    first: list[float] = []
    second: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=60) as http:
        for into in (first, second):
            for tenant in tenants:
                outcome, seconds = _search(http, tenant.key, query_text(rng), "hybrid")
                errors += outcome != "ok"
                into.append(seconds)
    return first, second, errors


@dataclass
class Served:
    """What one server run measured."""

    cells: list[Cell]
    cold: tuple[list[float], list[float], int]
    memory: RssSampler
    phases: list[tuple[str, TreeSample | None]]
    startup_s: float


def serve_and_measure(
    data_dir: Path,
    scenarios: list[Scenario],
    opts: Options,
    embedder: Embedder,
) -> Served:
    """Start the server, run every cell and the cold-tenant queries; stop it."""
    cells: list[Cell] = []
    multi = next(s for s in scenarios if len(s.tenants) > 1)
    with Server(data_dir) as server:
        console.print(f"server up in {server.startup_s:.1f} s; cold-tenant queries…")
        phases = [("started", server.rss.sample())]
        cold = cold_queries(server.url, multi.tenants[: opts.cold], opts.seed)
        phases.append((f"after {opts.cold} cold tenants", server.rss.sample()))
        for scenario in scenarios:
            group = scenario.tenants if len(scenario.tenants) == 1 else multi.tenants[: opts.cold]
            label = (
                scenario.name
                if len(scenario.tenants) == 1
                else f"{scenario.name} ({len(group)} warm)"
            )
            for mode, clients in itertools.product(opts.modes, opts.clients):
                console.print(f"  {label} {mode} ×{clients}…")
                probe = embedder if clients == 1 else None
                cells.append(run_cell(server.url, label, group, mode, clients, opts, probe))
            phases.append((f"after {label}", server.rss.sample()))
        server.stop()
        return Served(cells, cold, server.rss, phases, server.startup_s)


# ---------------------------------------------------------------- floor


def measure_floor(
    data_dir: Path, embedder: Embedder, scenarios: list[Scenario], opts: Options
) -> tuple[dict[tuple[str, str], Floor], list[float], float]:
    """In-process encoder + index query times per (scenario, mode); cold-open floor; the
    encoder-only query rate."""
    index = EdgeIndex(data_dir / "edge", dimension=embedder.dimension, background_optimize=False)
    rng = random.Random(f"{opts.seed}-floor")
    floors: dict[tuple[str, str], Floor] = {}
    try:
        for scenario in scenarios:
            if len(scenario.tenants) > 1:
                continue
            for mode in opts.modes:
                floors[(scenario.name, mode)] = _floor(
                    index, embedder, scenario.tenants[0], mode, rng, opts
                )
        multi = next(s for s in scenarios if len(s.tenants) > 1)
        untouched = multi.tenants[opts.cold : 2 * opts.cold]
        cold = [_timed_query(index, embedder, t, "hybrid", query_text(rng))[1] for t in untouched]
    finally:
        index.close()
    return floors, cold, encoder_rate(embedder, rng)


def encoder_rate(embedder: Embedder, rng: random.Random, queries: int = 600) -> float:
    """Distinct queries per second through the encoder alone, run as the server runs it."""
    texts = [query_text(rng) for _ in range(queries)]
    started = time.perf_counter()
    with ThreadPoolExecutor(ENCODER_PARALLEL) as pool:
        list(pool.map(embedder.embed_query, texts))
    return queries / (time.perf_counter() - started)


def _floor(
    index: EdgeIndex,
    embedder: Embedder,
    tenant: BenchTenant,
    mode: Mode,
    rng: random.Random,
    opts: Options,
) -> Floor:
    for _ in range(5):  # open the shard, warm caches
        _timed_query(index, embedder, tenant, mode, query_text(rng))
    floor = Floor()
    for _ in range(opts.floor_queries):
        encode, search = _timed_query(index, embedder, tenant, mode, query_text(rng))
        floor.encode.append(encode)
        floor.index.append(search)
    return floor


def _timed_query(
    index: EdgeIndex,
    embedder: Embedder,
    tenant: BenchTenant,
    mode: Mode,
    text: str,
) -> tuple[float, float]:
    """(encode seconds, index seconds) of one query built as `retrieval.search` builds it."""
    started = time.perf_counter()
    dense = embedder.embed_query(text)
    encoded = time.perf_counter()
    query = IndexQuery(
        mode=mode,
        dense=dense,
        sparse=sparse.encode_query(text),
        limit=TOP_K * OVERFETCH,
        prefetch_limit=max(50, TOP_K * OVERFETCH),
    )
    index.query(tenant.id, query)
    return encoded - started, time.perf_counter() - encoded


# ---------------------------------------------------------------- report


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    return f"{seconds * 1000:.1f}"


def load_table(scenarios: list[Scenario]) -> Table:
    """How long loading and HNSW builds took."""
    table = Table(title="Load (direct writes through EdgeIndex + SQL, before the server starts)")
    names = ("scenario", "tenants", "chunks", "load s", "HNSW build s", "HNSW child peak RSS")
    for name in names:
        table.add_column(name, justify="left" if name == "scenario" else "right")
    for s in scenarios:
        chunks = sum(t.chunks for t in s.tenants)
        hnsw = f"{s.hnsw_s:.1f}" if s.hnsw_s is not None else "- (exact search)"
        rss = mib(s.hnsw_rss) if s.hnsw_s is not None else "-"
        table.add_row(s.name, str(len(s.tenants)), f"{chunks:,}", f"{s.load_s:.1f}", hnsw, rss)
    return table


def cells_table(cells: list[Cell], floors: dict[tuple[str, str], Floor]) -> Table:
    """Latency and throughput per cell, with the floor ratio for 1 client."""
    table = Table(title=f"Search over HTTP (POST /v1/search, top_k {TOP_K}, distinct queries)")
    names = ("scenario", "mode", "clients", "requests", "errors", "p50 ms", "p95 ms", "p99 ms")
    for name in (*names, "req/s", "encode p50 ms (interleaved)", "p50 / floor p50"):
        table.add_column(name, justify="left" if name in ("scenario", "mode") else "right")
    for c in cells:
        p50 = percentile(c.latencies, 50)
        encode, ratio = "", ""
        floor = floors.get((c.scenario, c.mode))
        if c.encode:
            encode = ms(percentile(c.encode, 50))
        if c.encode and floor:
            ratio = f"{p50 / (percentile(c.encode, 50) + percentile(floor.index, 50)):.2f}"
        errors = sum(c.errors.values())
        kinds = ", ".join(f"{k}×{v}" for k, v in sorted(c.errors.items()))
        table.add_row(
            c.scenario,
            c.mode,
            str(c.clients),
            str(len(c.latencies) + errors),
            f"{errors} ({kinds})" if errors else "0",
            ms(p50),
            ms(percentile(c.latencies, 95)),
            ms(percentile(c.latencies, 99)),
            f"{len(c.latencies) / c.wall_s:.1f}",
            encode,
            ratio,
        )
    table.caption = (
        "floor p50 = encode p50 sampled in this process right after each 1-client request "
        "(same machine load) + EdgeIndex.query p50 measured after the server stopped"
    )
    return table


def floor_table(
    floors: dict[tuple[str, str], Floor], cold_floor: list[float], rate: float
) -> Table:
    """The in-process floor per scenario and mode."""
    table = Table(
        title="Floor (in-process, server stopped): encoder + sparse encode + EdgeIndex.query"
    )
    for name in (
        "scenario",
        "mode",
        "queries",
        "encode p50 ms",
        "index p50 ms",
        "index p99 ms",
        "floor p50 ms",
        "floor p99 ms",
        "encoder-only q/s",
    ):
        table.add_column(name, justify="left" if name in ("scenario", "mode") else "right")
    for (scenario, mode), f in floors.items():
        table.add_row(
            scenario,
            mode,
            str(len(f.encode)),
            ms(percentile(f.encode, 50)),
            ms(percentile(f.index, 50)),
            ms(percentile(f.index, 99)),
            ms(percentile(f.total, 50)),
            ms(percentile(f.total, 99)),
            f"{rate:.0f}",
        )
    if cold_floor:
        table.add_row(
            "cold tenant",
            "hybrid",
            str(len(cold_floor)),
            "",
            ms(percentile(cold_floor, 50)),
            ms(percentile(cold_floor, 99)),
            "",
            "",
            "",
        )
    table.caption = (
        "cold tenant: first EdgeIndex.query on a never-opened shard (it opens it); index only"
    )
    return table


def cold_table(served: Served) -> Table:
    """Cold-tenant first queries vs second queries, and server start-up time."""
    first, second, errors = served.cold
    table = Table(
        title="Multi-tenant: first search to tenants not yet queried (HTTP, hybrid, sequential)"
    )
    for name in ("query", "tenants", "p50 ms", "p95 ms", "max ms", "errors"):
        table.add_column(name, justify="left" if name == "query" else "right")
    table.add_row(
        "first (cold shard)",
        str(len(first)),
        ms(percentile(first, 50)),
        ms(percentile(first, 95)),
        ms(max(first)),
        str(errors),
    )
    table.add_row(
        "second (warm)",
        str(len(second)),
        ms(percentile(second, 50)),
        ms(percentile(second, 95)),
        ms(max(second)),
        "",
    )
    table.caption = f"server startup {served.startup_s:.1f} s"
    return table


def memory_table(served: Served) -> Table:
    """Server memory at each phase, and the whole run's peak with its breakdown."""
    table = Table(title="Server memory (RSS from /proc/PID/status; children = parser, HNSW build)")
    for name in ("when", "tree RSS", "server RSS", "server anon", "server file-backed"):
        table.add_column(name, justify="left" if name == "when" else "right")
    table.add_column("children RSS", justify="right")
    rows = [*served.phases, ("peak (sampled every 0.25 s)", served.memory.at_peak)]
    for when, tree in rows:
        if tree is None:
            continue
        server = tree.server
        kids = ", ".join(f"{k} {mib(m.rss)}" for k, m in sorted(tree.children.items()))
        cells = (tree.rss, server.rss, server.anon, server.file)
        table.add_row(when, *(mib(v) for v in cells), kids or "-")
    table.caption = (
        f"peak PSS of the tree (shared pages split between processes; sampled every 2 s): "
        f"{mib(served.memory.pss_peak)}; server VmHWM (kernel's own peak RSS of the server "
        f"process): {mib(served.memory.server_hwm)}. File-backed pages are mmapped shard "
        "files and libraries: clean, so the kernel can drop them under memory pressure."
    )
    return table


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> Options:
    """Read the command line (or `argv`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chunks", type=int, default=10_000, help="chunks of the single tenant (0: skip it)"
    )
    parser.add_argument(
        "--tenants", type=int, default=1000, help="tenants of the multi-tenant scenario"
    )
    parser.add_argument("--tenant-chunks", type=int, default=100, help="chunks per tenant there")
    parser.add_argument("--large", action="store_true", help="add one tenant with --large-chunks")
    parser.add_argument("--large-chunks", type=int, default=100_000)
    parser.add_argument("--cold", type=int, default=50, help="cold tenants to query first")
    parser.add_argument("--requests", type=int, default=200, help="measured searches per cell")
    parser.add_argument("--clients", default="1,4,16", help="comma list of concurrent clients")
    parser.add_argument("--modes", default="dense,hybrid", help="comma list: dense,hybrid,sparse")
    parser.add_argument(
        "--pool", type=int, default=192, help="distinct passages embedded for vectors"
    )
    parser.add_argument(
        "--floor-queries", type=int, default=150, help="in-process floor queries per cell"
    )
    parser.add_argument("--quick", action="store_true", help="2k chunks, 100×100, 60 requests")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, help="keep data here instead of a temp dir")
    a = parser.parse_args(argv)
    if a.quick:
        a.chunks, a.tenants, a.requests, a.cold, a.pool, a.floor_queries = 2000, 100, 60, 20, 64, 40
    clients = tuple(int(c) for c in a.clients.split(","))
    modes = tuple(cast(Mode, m.strip()) for m in a.modes.split(","))
    return Options(
        a.chunks,
        a.tenants,
        a.tenant_chunks,
        a.large,
        a.large_chunks,
        min(a.cold, a.tenants // 2),
        a.requests,
        clients,
        modes,
        a.pool,
        a.floor_queries,
        a.seed,
        a.workdir,
    )


def main() -> None:
    """Load, serve and measure, measure the floor, print."""
    opts = parse_args()
    with tempfile.TemporaryDirectory(prefix="enclave-search-") as tmp:
        data_dir = (opts.workdir or Path(tmp)) / "data"
        # The encoder the server builds from the same settings (its export lands in the data
        # dir, where the server then finds it): the floor is the service's own encoder.
        embedder = build_embedder(Settings(data_dir=data_dir))
        loader = Loader(data_dir, embedder, opts)
        try:
            scenarios = load(loader, opts)
        finally:
            loader.close()
        console.print(load_table(scenarios))
        served = serve_and_measure(data_dir, scenarios, opts, embedder)
        console.print("floor (in-process)…")
        floors, cold_floor, rate = measure_floor(data_dir, embedder, scenarios, opts)
    console.print(cells_table(served.cells, floors))
    console.print(floor_table(floors, cold_floor, rate))
    console.print(cold_table(served))
    console.print(memory_table(served))


if __name__ == "__main__":
    main()
