"""`VectorIndex` over qdrant-edge: the Qdrant engine in-process, one shard directory per tenant."""

import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import qdrant_edge as qe

from retrieval import edge_files as files
from retrieval import edge_schema as schema
from retrieval.edge_slots import Slot, Slots
from retrieval.points import IndexFilter, IndexHit, IndexPoint, IndexQuery
from tenancy.ids import TenantId

log = logging.getLogger(__name__)


class EdgeIndex:
    """Shard per tenant under `root`, LRU of open shards, HNSW built off the request path."""

    def __init__(
        self,
        root: Path | str,
        *,
        dimension: int,
        max_open_shards: int = 64,
        max_search_threads: int = 1,
        hnsw_threshold: int = 20_000,
        field_index_threshold: int = 1_000,
        background_optimize: bool = True,
        optimize_timeout: float = 3600.0,
    ) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)
        self._config = schema.shard_config(
            dimension=dimension,
            max_search_threads=max_search_threads,
            hnsw_threshold=hnsw_threshold,
        )
        self._threshold = hnsw_threshold
        self._field_threshold = field_index_threshold
        self._timeout = optimize_timeout
        self._shards = Slots(self._root, max_open=max_open_shards)
        # Guards the optimizer's queue and `_closed`.
        self._mutex = threading.Lock()
        self._queue: queue.SimpleQueue[TenantId | None] = queue.SimpleQueue()
        self._queued: set[TenantId] = set()
        self._closed = False
        self._worker: threading.Thread | None = None
        if background_optimize:
            self._worker = threading.Thread(target=self._work, name="edge-hnsw", daemon=True)
            self._worker.start()

    def upsert(self, tenant_id: TenantId, points: Sequence[IndexPoint]) -> None:
        """Insert or overwrite points in the tenant's shard."""
        if points and self._write(tenant_id, schema.upsert_op(points), create=True):
            self._schedule(tenant_id)

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        """Dense, sparse or hybrid (RRF) query, tenant-filtered at every stage."""
        flt = schema.build_filter(tenant_id, query.filter, query.access)
        request = schema.query_request(query, flt)
        slot = self._slot(tenant_id)
        with slot.lock:
            shard = self._open(slot, create=False)
            points = shard.query(request) if shard else []
        return [schema.to_hit(point) for point in points]

    def set_access(self, tenant_id: TenantId, document_id: uuid.UUID, tokens: Sequence[str]) -> int:
        """New access tokens on one document's points (before the caller's change returns)."""
        flt = schema.build_filter(tenant_id, IndexFilter(document_ids=(document_id,)))
        slot = self._slot(tenant_id)
        with slot.lock:
            count = self.count(tenant_id, document_id)
            if count:
                self._write(tenant_id, schema.access_op(flt, tokens))
        return count

    def delete_document(self, tenant_id: TenantId, document_id: uuid.UUID) -> int:
        """Remove one document's points."""
        flt = schema.build_filter(tenant_id, IndexFilter(document_ids=(document_id,)))
        slot = self._slot(tenant_id)
        with slot.lock:
            count = self.count(tenant_id, document_id)
            if count:
                self._write(tenant_id, qe.UpdateOperation.delete_points_by_filter(flt))
        return count

    def delete_tenant(self, tenant_id: TenantId) -> int:
        """Close the tenant's shard and remove its directory."""
        slot = self._slot(tenant_id)
        with slot.lock:
            count = self.count(tenant_id)
            self._shards.close_slot(slot)
            files.remove_all(slot.live)
            slot.generation += 1
            slot.pending = None
            slot.optimized_at = 0
        return count

    def count(self, tenant_id: TenantId, document_id: uuid.UUID | None = None) -> int:
        """Points of the tenant, optionally of one document."""
        ids = (document_id,) if document_id else ()
        request = schema.count_request(
            schema.build_filter(tenant_id, IndexFilter(document_ids=ids))
        )
        slot = self._slot(tenant_id)
        with slot.lock:
            shard = self._open(slot, create=False)
            return shard.count(request) if shard else 0

    def snapshot(self, dest: Path) -> int:
        """Flush and copy every tenant's shard into `dest`; returns how many were copied.

        Writes must be paused by the caller (a backup); a tenant's queries wait only while
        its own shard is copied."""
        dest.mkdir(parents=True, exist_ok=True)
        copied = 0
        for live in files.shards(self._root):
            slot = self._slot(TenantId(uuid.UUID(live.name)))
            with slot.lock:
                if slot.shard is not None:
                    slot.shard.flush()
                elif not slot.building:
                    files.recover(slot.live)
                copied += files.copy_into(slot.live, dest)
        return copied

    def close(self) -> None:
        """Stop the optimizer (waits for a running build) and flush and close every shard."""
        with self._mutex:
            self._closed = True
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
        self._shards.close()

    @property
    def open_shards(self) -> int:
        """Shards in the LRU, at most `max_open_shards` (evicted ones close in the background)."""
        return self._shards.open_count

    def optimize_if_needed(self, tenant_id: TenantId) -> bool:
        """Build HNSW on a copy in a child process and swap it in; True if it did."""
        slot = self._slot(tenant_id)
        with slot.lock:
            start = self._start_optimize(slot)
        if start is None:
            return False
        work, points, generation = start
        try:
            files.optimize_copy(work, self._timeout)
            with slot.lock:
                return self._finish_optimize(slot, work, points, generation)
        finally:
            with slot.lock:
                if slot.generation == generation:
                    slot.pending = None
                files.discard(work)
                slot.building = False

    def _start_optimize(self, slot: Slot) -> tuple[Path, int, int] | None:
        """Under the lock: flush and copy the shard if it is due, start recording updates."""
        shard = self._open(slot, create=False)
        if shard is None or slot.building:
            return None
        points = shard.info().points_count
        if not self._due(slot, points):
            return None
        shard.flush()
        work = files.copy_shard(slot.live)
        slot.pending = []
        slot.building = True
        return work, points, slot.generation

    def _finish_optimize(self, slot: Slot, work: Path, points: int, generation: int) -> bool:
        """Under the lock: replay recorded updates onto the copy, then swap it in."""
        if slot.generation != generation or slot.pending is None:
            return False
        copy = qe.EdgeShard.load(str(work))
        for operation in slot.pending:
            copy.update(operation)
        copy.flush()
        copy.close()
        self._shards.close_slot(slot)
        files.swap(slot.live, work)
        files.write_marker(slot.live, points)
        slot.optimized_at = points
        return True

    def _due(self, slot: Slot, points: int) -> bool:
        """Past the threshold, and grown by another threshold since the last build."""
        return points >= self._threshold and points - slot.optimized_at >= self._threshold

    def _write(self, tenant_id: TenantId, op: qe.UpdateOperation, create: bool = False) -> bool:
        """Apply an update (recorded if a build is running); True if a build is due."""
        slot = self._slot(tenant_id)
        with slot.lock:
            shard = self._open(slot, create=create)
            if shard is None:
                return False
            self._apply(slot, shard, op)
            info = shard.info()
            self._index_fields_if_due(slot, shard, info)
            return self._due(slot, info.points_count)

    def _apply(self, slot: Slot, shard: qe.EdgeShard, op: qe.UpdateOperation) -> None:
        """Update the shard, and record the update for a copy being optimized."""
        shard.update(op)
        if slot.pending is not None:
            slot.pending.append(op)

    def _index_fields_if_due(self, slot: Slot, shard: qe.EdgeShard, info: "qe.ShardInfo") -> None:
        """Index the filter fields once the shard has grown past the field-index threshold."""
        # `info` is quoted: `ShardInfo` is in qdrant_edge's stubs, not a runtime attribute.
        if slot.fields_indexed is None:
            slot.fields_indexed = schema.indexed_fields() <= set(info.payload_schema)
        if slot.fields_indexed or info.points_count < self._field_threshold:
            return
        for op in schema.field_index_ops():
            self._apply(slot, shard, op)
        slot.fields_indexed = True

    def _schedule(self, tenant_id: TenantId) -> None:
        with self._mutex:
            if self._worker is None or self._closed or tenant_id in self._queued:
                return
            self._queued.add(tenant_id)
        self._queue.put(tenant_id)

    def _work(self) -> None:
        """Background thread: build HNSW for queued tenants, one at a time."""
        while (tenant_id := self._queue.get()) is not None:
            with self._mutex:
                self._queued.discard(tenant_id)
                if self._closed:
                    return
            try:
                self.optimize_if_needed(tenant_id)
            except Exception:
                log.exception("HNSW build failed for tenant %s", tenant_id)

    def _slot(self, tenant_id: TenantId) -> Slot:
        return self._shards.get(tenant_id)

    def _open(self, slot: Slot, *, create: bool) -> qe.EdgeShard | None:
        """The slot's shard (caller holds its lock), opened or created on demand."""
        if slot.shard is None:
            if not slot.building:
                files.recover(slot.live)
            if slot.live.exists():
                slot.shard = qe.EdgeShard.load(str(slot.live), self._config)
                slot.optimized_at = files.read_marker(slot.live)
            elif create:
                slot.shard = self._create(slot.live)
            else:
                return None
        self._shards.touch(slot)
        return slot.shard

    def _create(self, live: Path) -> qe.EdgeShard:
        shard = qe.EdgeShard.create(str(live), self._config)
        shard.update(schema.tenant_index_op())
        return shard
