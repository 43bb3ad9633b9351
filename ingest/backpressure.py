"""Back-pressure: refuse uploads while the ingestion queue is too deep, before storing anything.

Workers index a bounded number of documents per second; past the limit, accepting more
only lengthens everyone's wait (and grows the blobs on disk), so the caller is told to
come back later instead.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.errors import QueueFull
from retrieval.models import Document

RETRY_AFTER_SECONDS = 30
PENDING = ("queued", "processing")


def depth(session: Session) -> int:
    """Documents waiting or in work, all tenants together (a system-wide count)."""
    query = select(func.count()).select_from(Document).where(Document.status.in_(PENDING))
    return int(session.scalar(query) or 0)


def check(session: Session, *, limit: int | None, adding: int) -> None:
    """Raise `QueueFull` when `adding` more documents would pass `limit`."""
    if limit is None or adding == 0:
        return
    waiting = depth(session)
    if waiting + adding > limit:
        raise QueueFull(
            f"the ingestion queue is full ({waiting} documents waiting, limit {limit}); "
            f"retry in {RETRY_AFTER_SECONDS} s",
            retry_after=RETRY_AFTER_SECONDS,
        )
