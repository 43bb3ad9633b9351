"""Storage quotas: checked before anything of an upload is stored, and again per document."""

from collections.abc import Sequence

from sqlalchemy import func

from retrieval.models import Document
from tenancy.errors import QuotaExceeded
from tenancy.limits import Quota
from tenancy.scope import Scope


def usage(scope: Scope) -> tuple[int, int, int]:
    """The tenant's live documents, stored bytes and chunks (superseded versions excluded)."""
    query = (
        scope.select(Document)
        .where(Document.status != "superseded")
        .with_only_columns(
            func.count(),
            func.coalesce(func.sum(Document.size_bytes), 0),
            func.coalesce(func.sum(Document.chunk_count), 0),
        )
    )
    documents, stored, chunks = scope.session.execute(query).one()
    return int(documents), int(stored), int(chunks)


def check_upload(scope: Scope, quota: Quota, new_sizes: Sequence[int]) -> None:
    """Refuse an upload whose new documents would pass a quota."""
    documents, stored, chunks = usage(scope)
    _check("document", quota.max_documents, documents, len(new_sizes))
    _check("storage (bytes)", quota.max_bytes, stored, sum(new_sizes))
    if quota.max_chunks is not None and new_sizes and chunks >= quota.max_chunks:
        raise QuotaExceeded(f"chunk quota of {quota.max_chunks} reached ({chunks} indexed)")


class ChunkBudget:
    """What is left of a tenant's chunk quota, spent document by document within a batch.

    Checked one document at a time against the stored count, two documents of one batch
    could each fit and together pass the quota; a budget counts them both.
    """

    def __init__(self, limit: int | None, used: int) -> None:
        self.limit, self.used = limit, used

    def spend(self, adding: int) -> None:
        """Take `adding` chunks, or raise QuotaExceeded and take nothing."""
        _check("chunk", self.limit, self.used, adding)
        self.used += adding


def chunk_budget(scope: Scope, quota: Quota) -> ChunkBudget:
    """The tenant's chunk budget now (no usage query when it has no chunk quota)."""
    if quota.max_chunks is None:
        return ChunkBudget(None, 0)
    return ChunkBudget(quota.max_chunks, usage(scope)[2])


def _check(what: str, limit: int | None, used: int, adding: int) -> None:
    if limit is not None and used + adding > limit:
        raise QuotaExceeded(
            f"{what} quota of {limit} would be exceeded: {used} in use, {adding} more requested"
        )
