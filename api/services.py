"""The long-lived collaborators of a process, built once from settings."""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from sqlalchemy import Engine

from api.anchoring import Anchorer
from api.metrics import Metrics
from api.settings import Settings
from api.writer import GroupWriter
from ingest.blobs import BlobStore
from ingest.gate import WriteGate
from ingest.leases import Lease
from ingest.pipeline import Pipeline
from ingest.sandbox import Parser, ProcessParser, in_process
from ingest.space import Disk, unlimited
from ingest.worker import Worker, worker_name
from retrieval.edge import EdgeIndex
from retrieval.embed import CachedEmbedder, Embedder, SentenceTransformerEmbedder
from retrieval.index import VectorIndex
from retrieval.rerank import CrossEncoderReranker, Reranker
from retrieval.search import Retriever
from tenancy import db, signing, sqlite
from tenancy.anchors import AnchorLog
from tenancy.limits import Buckets, FallbackBuckets, MemoryBuckets, Quota, Rate, RedisBuckets
from tenancy.signing import KeyRing

log = logging.getLogger("enclave")


@dataclass(kw_only=True)
class Services:
    """Engine, sessions, stores, model and worker of one process."""

    settings: Settings
    engine: Engine
    sessions: db.SessionFactory
    index: VectorIndex
    embedder: Embedder
    blobs: BlobStore
    worker: Worker
    parser: Parser
    metrics: Metrics
    signing: KeyRing
    anchors: AnchorLog
    anchorer: Anchorer
    writes: GroupWriter
    # Searches in worker threads at once (`search_concurrency`; None: the thread pool's size).
    search_slots: anyio.CapacityLimiter | None
    reranker: Reranker | None = None
    buckets: Buckets = field(default_factory=MemoryBuckets)
    gate: WriteGate = field(default_factory=WriteGate)
    disk: Disk = field(default_factory=unlimited)
    # SQLite: the WAL checkpoints in the background, off the requests' commits.
    checkpointer: sqlite.Checkpointer | None = None

    @property
    def key_rate(self) -> Rate:
        """Default request rate of one key."""
        return Rate(self.settings.key_rate_per_second, self.settings.key_rate_burst)

    @property
    def tenant_rate(self) -> Rate:
        """Default request rate of one tenant (all its keys)."""
        return Rate(self.settings.tenant_rate_per_second, self.settings.tenant_rate_burst)

    @property
    def quota(self) -> Quota:
        """Default storage quota of a tenant."""
        return default_quota(self.settings)

    @property
    def retriever(self) -> Retriever:
        """What search needs."""
        return Retriever(
            self.index,
            self.embedder,
            prefetch_limit=self.settings.hybrid_prefetch,
            rrf_k=self.settings.rrf_k,
            reranker=self.reranker,
            rerank_candidates=self.settings.rerank_candidates,
        )

    def close(self) -> None:
        """Stop the worker, the anchorer and the checkpoints, close the index and dispose the
        engine."""
        self.worker.stop()
        self.writes.stop()
        self.anchorer.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if isinstance(self.parser, ProcessParser):
            self.parser.close()
        self.index.close()
        self.engine.dispose()


def build(settings: Settings, *, embedder: Embedder | None = None) -> Services:
    """Build everything; `embedder` lets tests inject a fast fake."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    reranker = build_reranker(settings)  # first: a bad model path fails before files open
    engine = db.make_engine(settings.resolved_database_url())
    sessions = db.session_factory(engine)
    model = embedder or CachedEmbedder(build_embedder(settings))
    index = build_index(settings, dimension=model.dimension)
    blobs = BlobStore(settings.blobs_path)
    parser = build_parser(settings)
    metrics = Metrics(sessions, documents=settings.metrics_documents)
    gate = WriteGate()
    disk = Disk(
        paths=(settings.data_dir, settings.blobs_path), reserve_bytes=settings.min_free_mb << 20
    )
    pipeline = Pipeline(
        sessions=sessions,
        blobs=blobs,
        index=index,
        embedder=model,
        parser=parser,
        quota=default_quota(settings),
        observe=metrics.observe_stage,
        max_chars=settings.chunk_max_chars,
        gate=gate,
        disk=disk,
    )
    worker = Worker(
        pipeline,
        lease=build_lease(settings),
        idle_seconds=settings.worker_poll_s,
        resume_after_s=settings.erasure_resume_after_s,
    )
    ring = signing.load(settings.signing_path, settings.signing_key_file)
    anchor_log = AnchorLog(settings.anchors_path)
    anchorer = Anchorer(
        sessions,
        ring,
        anchor_log,
        every_s=settings.anchor_every_s,
        every_events=settings.anchor_every_events,
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        index=index,
        embedder=model,
        blobs=blobs,
        worker=worker,
        parser=parser,
        metrics=metrics,
        signing=ring,
        anchors=anchor_log,
        anchorer=anchorer,
        # Concurrent searches share their audit chain's lock and a commit (group commit).
        writes=GroupWriter(sessions, enabled=_group_commit(settings, engine)),
        search_slots=_search_slots(settings, engine),
        reranker=reranker,
        buckets=build_buckets(settings, metrics),
        gate=gate,
        disk=disk,
        checkpointer=sqlite.Checkpointer(engine) if engine.dialect.name == "sqlite" else None,
    )


def _search_slots(settings: Settings, engine: Engine) -> anyio.CapacityLimiter | None:
    """The searches' slots (`search_concurrency`); None: no limit but the thread pool's."""
    if settings.search_concurrency:
        return anyio.CapacityLimiter(settings.search_concurrency)
    if engine.dialect.name == "postgresql":
        return None
    return anyio.CapacityLimiter(max(2, _cpus()))


def _cpus() -> int:
    """The CPUs this process may run on (all of the machine's where that is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _group_commit(settings: Settings, engine: Engine) -> bool:
    if settings.group_commit == "auto":
        return engine.dialect.name == "postgresql"
    return settings.group_commit == "on"


def build_lease(settings: Settings) -> Lease:
    """This process's identity and lease terms as an ingestion worker."""
    return Lease(
        worker_name(), seconds=settings.worker_lease_s, max_attempts=settings.worker_max_attempts
    )


def default_quota(settings: Settings) -> Quota:
    """The service-wide storage quota of a tenant."""
    s = settings
    return Quota(max_documents=s.max_documents, max_bytes=s.max_bytes, max_chunks=s.max_chunks)


def build_buckets(settings: Settings, metrics: Metrics) -> Buckets:
    """Redis-backed buckets when several processes must share limits (each call bounded by
    a short timeout, in-process buckets while Redis fails), else in-process."""
    if settings.redis_url:
        shared = RedisBuckets.connect(settings.redis_url, timeout=settings.redis_timeout_s)
        return FallbackBuckets(shared, on_fallback=metrics.rate_limit_fallback.inc)
    return MemoryBuckets()


def build_parser(settings: Settings) -> Parser:
    """Killable child processes by default; in-process when configured (tests)."""
    if settings.parse_isolation == "thread":
        return in_process
    idle = settings.parse_idle_s or None
    return ProcessParser(
        timeout_s=settings.parse_timeout_s,
        memory_mb=settings.parse_memory_mb,
        lazy=idle is not None,
        idle_s=idle,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The configured encoder (uncached); ONNX backends export once into the data dir."""
    if settings.embedding_backend == "torch":
        return SentenceTransformerEmbedder(settings.embedding_model)
    from retrieval.onnx_embed import OnnxEmbedder

    path = None if settings.embedding_model == "default" else Path(settings.embedding_model)
    if path is not None and not (path / "tokenizer.json").exists():
        raise ValueError("ONNX backends need `default` or a local model directory")
    return OnnxEmbedder(
        settings.data_dir / "models",
        model_path=path,
        quantize=settings.embedding_backend == "onnx-int8",
    )


def build_index(settings: Settings, *, dimension: int) -> VectorIndex:
    """A Qdrant server for a URL; `local`: qdrant-client local mode; default: Qdrant Edge."""
    if settings.qdrant_url:
        return build_qdrant(settings, settings.qdrant_url, dimension=dimension)
    return EdgeIndex(
        settings.data_dir / "edge",
        dimension=dimension,
        max_open_shards=settings.edge_max_open_shards,
        hnsw_threshold=settings.edge_hnsw_threshold,
    )


def build_qdrant(settings: Settings, url: str, *, dimension: int) -> VectorIndex:
    """A Qdrant server at `url`, or qdrant-client local mode in the data dir for `local`."""
    # Imported here: qdrant-client costs ~80 MB of RSS in a server that uses Edge.
    from retrieval.qdrant import QdrantIndex

    if url != "local":
        return QdrantIndex.remote(url, api_key=settings.qdrant_api_key, dimension=dimension)
    path = settings.data_dir / "qdrant"
    path.mkdir(parents=True, exist_ok=True)
    return QdrantIndex.local(str(path), dimension=dimension)


# The API caps `top_k` at 50, and a reranked search re-scores max(top_k, rerank_candidates).
MAX_TOP_K = 50


def build_reranker(settings: Settings) -> Reranker | None:
    """The configured cross-encoder, or None (then `rerank: true` is refused)."""
    if settings.rerank_model is None:
        return None
    bound = max(settings.rerank_candidates, MAX_TOP_K)
    return CrossEncoderReranker(settings.rerank_model, max_candidates=bound)
