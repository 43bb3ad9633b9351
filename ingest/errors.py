"""Ingestion errors: no HTTP here; `api/errors.py` maps them to status codes."""


class IngestError(Exception):
    """Base class of every ingestion error."""


class UnsupportedMediaType(IngestError):
    """The content is not an allowed type, or does not match its file name."""


class PayloadTooLarge(IngestError):
    """A file or upload exceeds the configured size limit."""


class InvalidUpload(IngestError):
    """The upload is malformed (no files, bad metadata, ...)."""


class ParseError(IngestError):
    """A document could not be turned into text; the message is shown to the admin."""


class QueueFull(IngestError):
    """The ingestion queue is at its limit; the upload may be retried later."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class InvalidManifest(IngestError):
    """A sync's manifest cannot be used (a bad, repeated or over-long path, too many entries)."""


class SyncConflict(IngestError):
    """Another sync of the same source is under way, or the run cannot take this step now."""


class InsufficientStorage(IngestError):
    """The server's disk is below its free-space reserve; nothing new is accepted until it is
    freed (reads keep working)."""
