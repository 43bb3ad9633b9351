"""Ingestion workers: claim leased batches of queued documents and index them.

The same loop runs as a thread inside the API process (the embedded default) or as the
main loop of `enclave worker` processes; several of them may share one database.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from ingest import backfill, erasure, leases, store
from ingest import pipeline as pipe

log = logging.getLogger("enclave.worker")
T = TypeVar("T")


def worker_name() -> str:
    """A lease owner unique to this process and worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Heartbeat:
    """Renews the leases of the documents in work, every third of the lease."""

    def __init__(self, pipeline: pipe.Pipeline, lease: leases.Lease) -> None:
        self._sessions, self._lease = pipeline.sessions, lease
        self._held: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="enclave-heartbeat", daemon=True)
        self._thread.start()

    def hold(self, ids: list[uuid.UUID]) -> None:
        """Keep `ids` leased from now on."""
        with self._lock:
            self._held.update(ids)

    def drop(self, ids: list[uuid.UUID]) -> None:
        """Stop renewing `ids` (indexed, failed or given back)."""
        with self._lock:
            self._held.difference_update(ids)

    @contextmanager
    def holding(self, ids: list[uuid.UUID]) -> Iterator[None]:
        """Keep `ids` leased while the block runs."""
        self.hold(ids)
        try:
            yield
        finally:
            self.drop(ids)

    def stop(self) -> None:
        """End the renewals."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._lease.seconds / 3):
            with self._lock:
                held = list(self._held)
            try:
                leases.renew(self._sessions, self._lease, held)
            except Exception:  # a database blip: the next beat tries again
                log.exception("renewing leases failed")


class Worker:
    """Indexes queued documents until stopped; `wake()` after an upload."""

    def __init__(
        self,
        pipeline: pipe.Pipeline,
        *,
        lease: leases.Lease | None = None,
        idle_seconds: float = 1.0,
        resume_after_s: float = 30.0,
    ) -> None:
        self.pipeline = pipeline
        self.lease = lease or leases.Lease(worker_name())
        self._idle = idle_seconds
        # Erasures left unfinished this long are taken for interrupted and finished here.
        self._resume_after = resume_after_s
        self._resumed_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: Heartbeat | None = None
        self._storing: Future[None] | None = None
        self._served: frozenset[uuid.UUID] = frozenset()  # the tenants of the last claim

    def start(self) -> None:
        """The embedded worker: requeue what a crash interrupted, then run in a thread."""
        with self.pipeline.sessions.begin() as session:
            requeued = leases.requeue_orphans(session)
        if requeued:
            log.info("resuming %d interrupted document(s)", requeued)
        self._thread = threading.Thread(target=self.run, name="enclave-worker", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Claim and index until `stop()`; batches already claimed always finish first.

        Three stages overlap, each in its own thread: while the encoder embeds one batch
        here, a second thread claims and parses the next one (parsing runs in the parser's
        child process) and a third stores the previous one (index upserts and SQL), so the
        encoder, the scarce resource, never waits for either. Batches are stored in the
        order they were claimed.
        """
        log.info("worker %s started", self.lease.owner)
        self._safely(self._upgrade_payloads)
        self._safely(self._resume_erasures)
        with (
            ThreadPoolExecutor(1, thread_name_prefix="enclave-prepare") as ahead,
            ThreadPoolExecutor(1, thread_name_prefix="enclave-store") as behind,
        ):
            upcoming: Future[pipe.Batch | None] | None = None
            while not (self._stop.is_set() and upcoming is None):
                current = upcoming.result() if upcoming else self._safely(self._prepare)
                more = current is not None and not self._stop.is_set()
                upcoming = ahead.submit(self._safely, self._prepare) if more else None
                if current is not None:
                    self._embed_then_store(current, behind)
                elif not self._stop.is_set():
                    self._wake.wait(self._idle)
                    self._wake.clear()
                    if time.monotonic() - self._resumed_at >= self._resume_after:
                        self._safely(self._resume_erasures)
        log.info("worker %s stopped", self.lease.owner)

    def _upgrade_payloads(self) -> int:
        """Points written before their payload gained a field get it (once, before work)."""
        with self.pipeline.gate.writing():
            return backfill.payloads(self.pipeline.sessions, self.pipeline.index)

    def _resume_erasures(self) -> erasure.Resumed:
        """Finish the erasures a crash interrupted (here or in another process)."""
        self._resumed_at = time.monotonic()
        p = self.pipeline
        if p.disk.free() < p.disk.floor_bytes:
            return erasure.Resumed()  # an index write on a full disk can kill the process
        done = erasure.resume(p.sessions, p.index, p.blobs, gate=p.gate, after_s=self._resume_after)
        if done.documents or done.tenants:
            log.warning(
                "finished %d document and %d tenant erasure(s) a crash had interrupted",
                done.documents,
                done.tenants,
            )
        return done

    def _embed_then_store(self, batch: pipe.Batch, behind: ThreadPoolExecutor) -> None:
        vectors = self._safely(partial(pipe.embed_batch, self.pipeline, batch))
        if self._storing is not None:
            self._storing.result()  # one batch in store at a time: memory stays bounded
        self._storing = behind.submit(self._safely, partial(self._store, batch, vectors))

    def _prepare(self) -> pipe.Batch | None:
        """Claim a batch and parse it; None when the queue is empty."""
        claimed = self._claim()
        if not claimed:
            return None
        self._beat().hold(claimed)
        try:
            return pipe.prepare_batch(self.pipeline, claimed, owner=self.lease.owner)
        except Exception:
            self._beat().drop(claimed)  # let the leases run out: the batch will be retried
            raise

    def _store(self, batch: pipe.Batch, vectors: list[list[list[float]]] | None) -> None:
        try:
            store.store_batch(self.pipeline, batch, vectors)
        finally:
            self._beat().drop(batch.ids)

    def _safely(self, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except Exception:  # a database blip: the batch's leases run out and it is retried
            log.exception("worker step failed")
            return None

    def wake(self) -> None:
        """Work has arrived."""
        self._wake.set()

    def request_stop(self) -> None:
        """Stop after the current batch (signal handlers call this)."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current batch and stop."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def drain(self) -> int:
        """Index queued documents in the caller's thread until none is left (tests, CLI)."""
        count = 0
        while worked := self._step():
            count += worked
        return count

    def _step(self) -> int:
        claimed = self._claim()
        if claimed:
            with self._beat().holding(claimed):
                store.process_batch(self.pipeline, claimed, owner=self.lease.owner)
        return len(claimed)

    def _claim(self) -> list[uuid.UUID]:
        """Lease the next documents; those that used up their attempts are failed at once
        (and then skipped, as no longer held). None while the disk is below its reserve:
        an index write on a full disk can kill the process, so documents wait queued."""
        if self.pipeline.disk.low():
            return []
        claimed = leases.claim(
            self.pipeline.sessions,
            self.lease,
            limit=self.pipeline.batch_docs,
            max_bytes=self.pipeline.batch_bytes,
            served=self._served,
        )
        self._served = claimed.tenants or self._served
        owner = self.lease.owner
        for doc_id in claimed.exhausted:
            pipe.give_up(self.pipeline, doc_id, owner=owner, attempts=self.lease.max_attempts)
        return claimed.ids + claimed.exhausted

    def _beat(self) -> Heartbeat:
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(self.pipeline, self.lease)
        return self._heartbeat
