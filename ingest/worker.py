"""The in-process ingestion worker: a thread that claims queued documents one by one."""

import logging
import threading
import uuid

from ingest import pipeline as pipe

log = logging.getLogger("enclave.worker")


class Worker:
    """Runs `pipeline.process` on queued documents until stopped; `wake()` after an upload."""

    def __init__(self, pipeline: pipe.Pipeline, *, idle_seconds: float = 1.0) -> None:
        self._pipeline = pipeline
        self._idle = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Requeue what a crash interrupted, then start the thread."""
        requeued = pipe.requeue_interrupted(self._pipeline.sessions)
        if requeued:
            log.info("resuming %d interrupted document(s)", requeued)
        self._thread = threading.Thread(target=self._run, name="enclave-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Work has arrived."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current document and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self) -> int:
        """Process queued documents in the caller's thread until none is left (tests, CLI)."""
        count = 0
        while claimed := self._claim():
            pipe.process_batch(self._pipeline, claimed)
            count += len(claimed)
        return count

    def _claim(self) -> list[uuid.UUID]:
        """Up to `batch_docs` queued documents, oldest first."""
        claimed: list[uuid.UUID] = []
        while len(claimed) < self._pipeline.batch_docs:
            doc_id = pipe.claim_next(self._pipeline.sessions)
            if doc_id is None:
                break
            claimed.append(doc_id)
        return claimed

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self._step()
            except Exception:
                log.exception("worker step failed")
                worked = False
            if not worked:
                self._wake.wait(self._idle)
                self._wake.clear()

    def _step(self) -> bool:
        claimed = self._claim()
        if not claimed:
            return False
        pipe.process_batch(self._pipeline, claimed)
        return True
