"""Cross-encoder reranking behind a small protocol; sentence-transformers is the real one."""

import threading
from collections.abc import Sequence
from typing import Any, Protocol

# Pairs longer than this are truncated: cost grows with length, and on 2 CPU cores
# 512-token pairs took ~2 s per query for 20 candidates.
DEFAULT_MAX_LENGTH = 256
DEFAULT_MAX_CANDIDATES = 50


class Reranker(Protocol):
    """Scores how well each passage answers a query; higher is better."""

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, in the passages' order."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder loaded from a local directory, on the CPU."""

    def __init__(
        self,
        path: str,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        batch_size: int = 16,
    ) -> None:
        from sentence_transformers import CrossEncoder

        self._model: Any = CrossEncoder(
            path, device="cpu", local_files_only=True, max_length=max_length
        )
        self._max_candidates = max_candidates
        self._batch_size = batch_size
        # Torch already uses every core for one batch; parallel calls only thrash.
        self._lock = threading.Lock()

    @property
    def max_length(self) -> int:
        """Longest query + passage pair, in tokens, before truncation."""
        return int(self._model.max_seq_length)

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """Scores of at most `max_candidates` passages (ValueError beyond that bound)."""
        if len(passages) > self._max_candidates:
            raise ValueError(f"at most {self._max_candidates} passages per call")
        if not passages:
            return []
        pairs = [(query, passage) for passage in passages]
        with self._lock:
            scores = self._model.predict(
                pairs, batch_size=self._batch_size, show_progress_bar=False
            )
        return [float(s) for s in scores]
