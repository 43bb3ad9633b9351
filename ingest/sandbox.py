"""Parsing in pre-warmed child processes with a memory cap and a per-file timeout.

unstructured can hang or balloon on hostile files (a zip-bomb DOCX sat at
1.3 GB for ever in our measurements). A child process can be killed; a thread
cannot. Children are spawned (not forked: the parent holds torch's threads),
import and warm unstructured once, and are replaced when one is killed.

A warm child holds ~650 MB (unstructured, spaCy, torch via unstructured-inference),
so a server can start its pool on the first file instead of at start-up (`lazy`) and
stop it after `idle_s` without files; the next file then waits ~10 s for a new one.
"""

import concurrent.futures as cf
import logging
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ingest import parse
from ingest.errors import ParseError

log = logging.getLogger("enclave.parse")

PartitionFn = Callable[[bytes, str, str], list[parse.Element]]


class Parser(Protocol):
    """Turns a document's bytes into elements, or raises ParseError."""

    def __call__(self, data: bytes, media_type: str, filename: str) -> list[parse.Element]:
        """Partition one document."""
        ...


def in_process(data: bytes, media_type: str, filename: str) -> list[parse.Element]:
    """Parse in the calling thread (tests and tools; no isolation)."""
    return parse.partition_document(data, media_type=media_type, filename=filename)


STARTUP_TIMEOUT_S = 300.0


def _ready() -> bool:
    return True


def _child_init(memory_bytes: int, warm: bool) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    _exit_with_parent(os.getppid())
    if warm:
        parse.warm_up()


def _exit_with_parent(parent: int) -> None:
    """A child outlives a `kill -9` of its server otherwise, holding memory for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class ProcessParser:
    """A pool of `workers` child processes; a file over time or memory fails alone.

    `lazy`: start the children on the first file, not now; `idle_s`: stop them after that
    many seconds without a file (the next file starts new ones).
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        timeout_s: float = 120.0,
        memory_mb: int = 3072,
        target: PartitionFn = in_process,
        warm: bool = True,
        lazy: bool = False,
        idle_s: float | None = None,
    ) -> None:
        self._workers, self._timeout, self._target = workers, timeout_s, target
        self._init_args = (memory_mb * 1024 * 1024, warm)
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._busy = 0
        self._last_used = time.monotonic()
        self._closed = threading.Event()
        self._pool: cf.ProcessPoolExecutor | None = None if lazy else self._new_pool()
        if idle_s is not None:
            threading.Thread(target=self._reap_idle, name="parse-idle", daemon=True).start()

    @property
    def running(self) -> bool:
        """Whether child processes are up now."""
        with self._lock:
            return self._pool is not None

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        pool = cf.ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_init,
            initargs=self._init_args,
        )
        # Start and warm the children now, so that a file's time limit never
        # includes the seconds a fresh child spends importing unstructured.
        for ready in [pool.submit(_ready) for _ in range(self._workers)]:
            ready.result(timeout=STARTUP_TIMEOUT_S)
        return pool

    def __call__(self, data: bytes, media_type: str, filename: str) -> list[parse.Element]:
        """Parse in a child; kill and replace the pool if the child hangs or dies."""
        pool = self._acquire()
        try:
            future = pool.submit(self._target, data, media_type, filename)
            return future.result(timeout=self._timeout)
        except cf.TimeoutError:
            self._restart(pool)
            raise ParseError(f"{filename}: parsing took longer than {self._timeout:g} s") from None
        except (cf.process.BrokenProcessPool, MemoryError):
            self._restart(pool)
            raise ParseError(f"{filename}: parsing exceeded the memory limit") from None
        finally:
            self._release()

    def _acquire(self) -> cf.ProcessPoolExecutor:
        """The running pool, started (and warmed, outside any file's time limit) if needed."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the parser is closed")
            if self._pool is None:
                self._pool = self._new_pool()
            self._busy += 1
            return self._pool

    def _release(self) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = time.monotonic()

    def _restart(self, broken: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not broken:
                return  # another thread already replaced it
            _kill(broken)
            self._pool = self._new_pool()
            log.warning("parser pool restarted after a hung or crashed child")

    def _reap_idle(self) -> None:
        """Background thread: stop the children once no file came for `idle_s`."""
        assert self._idle_s is not None
        while not self._closed.wait(min(self._idle_s, 5.0)):
            with self._lock:
                idle = time.monotonic() - self._last_used >= self._idle_s
                if self._pool is not None and self._busy == 0 and idle:
                    _kill(self._pool)
                    self._pool = None
                    log.info("parser pool stopped after %.0f s idle", self._idle_s)

    def close(self) -> None:
        """Stop the children."""
        with self._lock:
            self._closed.set()
            if self._pool is not None:
                _kill(self._pool)
                self._pool = None


def _kill(pool: cf.ProcessPoolExecutor) -> None:
    """Kill a pool's children (they may be hung) and release it."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
