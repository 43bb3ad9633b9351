"""Storage quotas: checked before anything of an upload is stored, and again per document."""

from collections.abc import Sequence

from retrieval import documents
from tenancy.errors import QuotaExceeded
from tenancy.limits import Quota
from tenancy.scope import Scope


def check_upload(scope: Scope, quota: Quota, new_sizes: Sequence[int]) -> None:
    """Refuse an upload whose new documents would pass a quota."""
    used = documents.usage(scope)
    _check("document", quota.max_documents, used.documents, len(new_sizes))
    _check("storage (bytes)", quota.max_bytes, used.bytes, sum(new_sizes))
    if quota.max_chunks is not None and new_sizes and used.chunks >= quota.max_chunks:
        raise QuotaExceeded(f"chunk quota of {quota.max_chunks} reached ({used.chunks} indexed)")


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
    return ChunkBudget(quota.max_chunks, documents.usage(scope).chunks)


def _check(what: str, limit: int | None, used: int, adding: int) -> None:
    if limit is not None and used + adding > limit:
        raise QuotaExceeded(
            f"{what} quota of {limit} would be exceeded: {used} in use, {adding} more requested"
        )
