"""`VectorIndex` over qdrant-edge: the Qdrant engine in-process, one shard directory per tenant."""

import logging
import queue
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import qdrant_edge as qe

from retrieval import edge_files as files
from retrieval import edge_schema as schema
from retrieval.points import IndexFilter, IndexHit, IndexPoint, IndexQuery
from tenancy.ids import TenantId

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    """A tenant's shard handle; every use of it holds `lock`. Slots are never dropped."""

    live: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    shard: qe.EdgeShard | None = None
    # Updates applied while a copy is being optimized, replayed onto the copy.
    pending: list[qe.UpdateOperation] | None = None
    building: bool = False
    optimized_at: int = 0
    generation: int = 0
    # Whether the shard has all its payload indexes (None: not looked at since it opened).
    fields_indexed: bool | None = None


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
        self._max_open = max(1, max_open_shards)
        self._threshold = hnsw_threshold
        self._field_threshold = field_index_threshold
        self._timeout = optimize_timeout
        self._mutex = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self._lru: OrderedDict[str, _Slot] = OrderedDict()
        self._queue: queue.SimpleQueue[TenantId | None] = queue.SimpleQueue()
        self._queued: set[TenantId] = set()
        self._closed = False
        self._worker: threading.Thread | None = None
        if background_optimize:
            self._worker = threading.Thread(target=self._work, name="edge-hnsw", daemon=True)
            self._worker.start()
        self._evicted: queue.SimpleQueue[_Slot | None] = queue.SimpleQueue()
        self._closer = threading.Thread(target=self._close_evicted, name="edge-close", daemon=True)
        self._closer.start()

    def upsert(self, tenant_id: TenantId, points: Sequence[IndexPoint]) -> None:
        """Insert or overwrite points in the tenant's shard."""
        if points and self._write(tenant_id, schema.upsert_op(points), create=True):
            self._schedule(tenant_id)

    def query(self, tenant_id: TenantId, query: IndexQuery) -> list[IndexHit]:
        """Dense, sparse or hybrid (RRF) query, tenant-filtered at every stage."""
        request = schema.query_request(query, schema.build_filter(tenant_id, query.filter))
        slot = self._slot(tenant_id)
        with slot.lock:
            shard = self._open(slot, create=False)
            points = shard.query(request) if shard else []
        return [schema.to_hit(point) for point in points]

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
            self._close_slot(slot)
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
            slots = list(self._slots.values())
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
        self._evicted.put(None)
        self._closer.join()
        for slot in slots:
            with slot.lock:
                self._close_slot(slot)

    @property
    def open_shards(self) -> int:
        """Shards in the LRU, at most `max_open_shards` (evicted ones close in the background)."""
        with self._mutex:
            return len(self._lru)

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

    def _start_optimize(self, slot: _Slot) -> tuple[Path, int, int] | None:
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

    def _finish_optimize(self, slot: _Slot, work: Path, points: int, generation: int) -> bool:
        """Under the lock: replay recorded updates onto the copy, then swap it in."""
        if slot.generation != generation or slot.pending is None:
            return False
        copy = qe.EdgeShard.load(str(work))
        for operation in slot.pending:
            copy.update(operation)
        copy.flush()
        copy.close()
        self._close_slot(slot)
        files.swap(slot.live, work)
        files.write_marker(slot.live, points)
        slot.optimized_at = points
        return True

    def _due(self, slot: _Slot, points: int) -> bool:
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

    def _apply(self, slot: _Slot, shard: qe.EdgeShard, op: qe.UpdateOperation) -> None:
        """Update the shard, and record the update for a copy being optimized."""
        shard.update(op)
        if slot.pending is not None:
            slot.pending.append(op)

    def _index_fields_if_due(self, slot: _Slot, shard: qe.EdgeShard, info: "qe.ShardInfo") -> None:
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

    def _slot(self, tenant_id: TenantId) -> _Slot:
        with self._mutex:
            if self._closed:
                raise RuntimeError("EdgeIndex is closed")
            slot = self._slots.get(tenant_id.hex)
            if slot is None:
                slot = self._slots[tenant_id.hex] = _Slot(live=self._root / tenant_id.hex)
            return slot

    def _open(self, slot: _Slot, *, create: bool) -> qe.EdgeShard | None:
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
        self._touch(slot)
        return slot.shard

    def _create(self, live: Path) -> qe.EdgeShard:
        shard = qe.EdgeShard.create(str(live), self._config)
        shard.update(schema.tenant_index_op())
        return shard

    def _touch(self, slot: _Slot) -> None:
        """Mark the slot most recent; evict least-recent shards beyond the cap."""
        with self._mutex:
            self._lru[slot.live.name] = slot
            self._lru.move_to_end(slot.live.name)
            excess = len(self._lru) - self._max_open
            victims = [s for s in self._lru.values() if s is not slot][: max(0, excess)]
            for victim in victims:
                del self._lru[victim.live.name]
        for victim in victims:
            # A close flushes (~15 ms): not on the request that opened another tenant's shard.
            self._evicted.put(victim)

    def _close_evicted(self) -> None:
        """Background thread: close evicted shards, unless used (back in the LRU) meanwhile."""
        while (slot := self._evicted.get()) is not None:
            with slot.lock:
                with self._mutex:
                    if slot.live.name in self._lru:
                        continue
                try:
                    self._close_slot(slot)
                except Exception:
                    log.exception("closing the shard %s failed", slot.live.name)

    def _close_slot(self, slot: _Slot) -> None:
        """Flush and close the slot's shard (caller holds its lock)."""
        with self._mutex:
            self._lru.pop(slot.live.name, None)
        slot.fields_indexed = None
        if slot.shard is not None:
            shard, slot.shard = slot.shard, None
            shard.flush()
            shard.close()
