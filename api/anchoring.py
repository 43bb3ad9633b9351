"""The anchorer: every few seconds, or after enough audit events, it signs the head of each
audit chain that moved and appends the checkpoint outside the database (`tenancy.anchors`).

It runs beside the requests, off their path: a request only counts its event (`noted`), and
a checkpoint covers committed events only (it reads the heads after their commit).
"""

import logging
import threading

from tenancy import audit, sqlite
from tenancy.anchors import AnchorLog
from tenancy.db import SessionFactory
from tenancy.signing import KeyRing

log = logging.getLogger("enclave.audit")


class Anchorer:
    """Appends checkpoints of the chains that moved, at most every `every_s` seconds or
    `every_events` events (whichever comes first); `anchor_now` does it at once."""

    def __init__(
        self,
        sessions: SessionFactory,
        ring: KeyRing,
        log_: AnchorLog,
        *,
        every_s: float,
        every_events: int,
    ) -> None:
        self._sessions, self._ring, self._log = sessions, ring, log_
        self._every_s, self._every_events = every_s, every_events
        self._anchored: dict[str, int] = {}
        self._pending = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Anchor in the background until `stop`."""
        self._thread = threading.Thread(target=self._run, name="enclave-anchor", daemon=True)
        self._thread.start()

    def noted(self) -> None:
        """One more audit event: wake the anchorer once enough have gathered."""
        with self._lock:
            self._pending += 1
            due = self._pending >= self._every_events
        if due:
            self._wake.set()

    def anchor_now(self) -> int:
        """Checkpoint every chain whose head moved since its last checkpoint; how many."""
        with self._lock:
            self._pending = 0
        with self._sessions() as session:
            sqlite.read_only(session)  # SQLite: the searches' writes need not wait for it
            heads = audit.heads(session)
        written = 0
        for chain, (seq, head_hash) in sorted(heads.items()):
            if seq > self._last(chain):
                self._log.append(self._ring, chain, seq, head_hash)
                self._anchored[chain] = seq
                written += 1
        return written

    def stop(self) -> None:
        """Stop the thread after one last anchoring pass."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)

    def _last(self, chain: str) -> int:
        if chain not in self._anchored:
            self._anchored[chain] = self._log.last_seq(chain)
        return self._anchored[chain]

    def _run(self) -> None:
        while True:
            self._wake.wait(self._every_s)
            self._wake.clear()
            try:
                self.anchor_now()
            except Exception:  # a full disk, a database blip: the next pass tries again
                log.exception("anchoring the audit chains failed")
            if self._stop.is_set():
                return
