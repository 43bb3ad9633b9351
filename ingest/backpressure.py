"""Back-pressure: refuse uploads while the ingestion queue is too deep, before storing anything.

Workers index a bounded number of documents per second; past the limit, accepting more
only lengthens everyone's wait (and grows the blobs on disk), so the caller is told to
come back later instead.
"""

from sqlalchemy import func, select

from ingest.errors import QueueFull
from retrieval.models import PENDING, Document
from tenancy import system
from tenancy.scope import Scope

RETRY_AFTER_SECONDS = 30


@system.wide("the ingestion queue is shared: its depth counts every tenant's waiting documents")
def depth(scope: Scope) -> int:
    """Documents waiting or in work, all tenants together (only a count leaves)."""
    query = select(func.count()).select_from(Document).where(Document.status.in_(PENDING))
    return int(scope.session.scalar(query) or 0)


def check(scope: Scope, *, limit: int | None, adding: int) -> None:
    """Raise `QueueFull` when `adding` more documents would pass `limit`."""
    if limit is None or adding == 0:
        return
    waiting = depth(scope)
    if waiting + adding > limit:
        raise QueueFull(
            f"the ingestion queue is full ({waiting} documents waiting, limit {limit}); "
            f"retry in {RETRY_AFTER_SECONDS} s",
            retry_after=RETRY_AFTER_SECONDS,
        )
