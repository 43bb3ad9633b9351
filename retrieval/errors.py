"""Retrieval errors: no HTTP here; `api/errors.py` maps them to status codes."""


class RetrievalError(Exception):
    """Base class of every retrieval error."""


class InvalidQuery(RetrievalError):
    """The search request cannot be run as asked."""


class RerankUnavailable(RetrievalError):
    """Reranking was asked for but no cross-encoder is configured."""


class IndexUnavailable(RetrievalError):
    """The vector index cannot be reached."""
