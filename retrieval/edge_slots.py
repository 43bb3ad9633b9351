"""The tenant shards of an `EdgeIndex`: one slot per tenant, at most N of them open at once.

A slot is a tenant's shard handle and its lock. Opening a shard makes it the most recently
used; past the cap, the least recently used ones are closed by a background thread (a close
flushes, ~15 ms: not on the request that opened another tenant's shard), unless they were
used again meanwhile. Slots themselves are never dropped, so a slot's lock always guards the
same tenant's files.
"""

import logging
import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import qdrant_edge as qe

from tenancy.ids import TenantId

log = logging.getLogger(__name__)


@dataclass
class Slot:
    """A tenant's shard handle; every use of it holds `lock`."""

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


class Slots:
    """Every tenant's slot under `root`, and the LRU of the open ones."""

    def __init__(self, root: Path, *, max_open: int) -> None:
        self._root = root
        self._max_open = max(1, max_open)
        self._mutex = threading.Lock()
        self._slots: dict[str, Slot] = {}
        self._lru: OrderedDict[str, Slot] = OrderedDict()
        self._closed = False
        self._evicted: queue.SimpleQueue[Slot | None] = queue.SimpleQueue()
        self._closer = threading.Thread(target=self._close_evicted, name="edge-close", daemon=True)
        self._closer.start()

    def get(self, tenant_id: TenantId) -> Slot:
        """The tenant's slot (made on first use)."""
        with self._mutex:
            if self._closed:
                raise RuntimeError("EdgeIndex is closed")
            slot = self._slots.get(tenant_id.hex)
            if slot is None:
                slot = self._slots[tenant_id.hex] = Slot(live=self._root / tenant_id.hex)
            return slot

    def all(self) -> list[Slot]:
        """Every slot made so far."""
        with self._mutex:
            return list(self._slots.values())

    @property
    def open_count(self) -> int:
        """Shards in the LRU (evicted ones close in the background)."""
        with self._mutex:
            return len(self._lru)

    def touch(self, slot: Slot) -> None:
        """Mark the slot most recent; evict least-recent shards beyond the cap."""
        with self._mutex:
            self._lru[slot.live.name] = slot
            self._lru.move_to_end(slot.live.name)
            excess = len(self._lru) - self._max_open
            victims = [s for s in self._lru.values() if s is not slot][: max(0, excess)]
            for victim in victims:
                del self._lru[victim.live.name]
        for victim in victims:
            self._evicted.put(victim)

    def close_slot(self, slot: Slot) -> None:
        """Flush and close the slot's shard (caller holds its lock)."""
        with self._mutex:
            self._lru.pop(slot.live.name, None)
        slot.fields_indexed = None
        if slot.shard is not None:
            shard, slot.shard = slot.shard, None
            try:
                shard.flush()
            except Exception:  # e.g. a full disk: the shard's WAL holds it, replayed on open
                log.exception(
                    "could not flush shard %s; its WAL is replayed when it reopens", slot.live.name
                )
            shard.close()

    def close(self) -> None:
        """Stop handing out slots; flush and close every open shard."""
        with self._mutex:
            self._closed = True
            slots = list(self._slots.values())
        self._evicted.put(None)
        self._closer.join()
        for slot in slots:
            with slot.lock:
                self.close_slot(slot)

    def _close_evicted(self) -> None:
        """Background thread: close evicted shards, unless used (back in the LRU) meanwhile."""
        while (slot := self._evicted.get()) is not None:
            with slot.lock:
                with self._mutex:
                    if slot.live.name in self._lru:
                        continue
                try:
                    self.close_slot(slot)
                except Exception:
                    log.exception("closing the shard %s failed", slot.live.name)
