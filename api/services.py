"""The long-lived collaborators of a process, built once from settings."""

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from api.settings import Settings
from ingest.blobs import BlobStore
from ingest.pipeline import Pipeline
from ingest.worker import Worker
from retrieval.embed import CachedEmbedder, Embedder, SentenceTransformerEmbedder
from retrieval.index import VectorIndex
from retrieval.qdrant import QdrantIndex
from retrieval.search import Retriever
from tenancy import db

log = logging.getLogger("enclave")


@dataclass
class Services:
    """Engine, sessions, stores, model and worker of one process."""

    settings: Settings
    engine: Engine
    sessions: db.SessionFactory
    index: VectorIndex
    embedder: Embedder
    blobs: BlobStore
    worker: Worker

    @property
    def retriever(self) -> Retriever:
        """What search needs."""
        return Retriever(
            self.index,
            self.embedder,
            prefetch_limit=self.settings.hybrid_prefetch,
            rrf_k=self.settings.rrf_k,
        )

    def close(self) -> None:
        """Stop the worker, close the index and dispose the engine."""
        self.worker.stop()
        self.index.close()
        self.engine.dispose()


def build(settings: Settings, *, embedder: Embedder | None = None) -> Services:
    """Build everything; `embedder` lets tests inject a fast fake."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.resolved_database_url())
    sessions = db.session_factory(engine)
    model = embedder or CachedEmbedder(SentenceTransformerEmbedder(settings.embedding_model))
    index = build_index(settings, dimension=model.dimension)
    blobs = BlobStore(settings.data_dir / "blobs")
    pipeline = Pipeline(sessions, blobs, index, model, max_chars=settings.chunk_max_chars)
    worker = Worker(pipeline)
    return Services(settings, engine, sessions, index, model, blobs, worker)


def build_index(settings: Settings, *, dimension: int) -> VectorIndex:
    """Qdrant server when a URL is set, else qdrant-client local mode in the data dir."""
    url = settings.qdrant_url
    if url and url != "local":
        return QdrantIndex.remote(url, api_key=settings.qdrant_api_key, dimension=dimension)
    path = settings.data_dir / "qdrant"
    path.mkdir(parents=True, exist_ok=True)
    return QdrantIndex.local(str(path), dimension=dimension)
