"""Parsing in pre-warmed child processes with a memory cap and a per-file timeout.

unstructured can hang or balloon on hostile files (a zip-bomb DOCX sat at
1.3 GB for ever in our measurements). A child process can be killed; a thread
cannot. Children are spawned (not forked: the parent holds torch's threads),
import and warm unstructured once, and are replaced when one is killed.
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
    """A pool of `workers` child processes; a file over time or memory fails alone."""

    def __init__(
        self,
        *,
        workers: int = 1,
        timeout_s: float = 120.0,
        memory_mb: int = 3072,
        target: PartitionFn = in_process,
        warm: bool = True,
    ) -> None:
        self._workers, self._timeout, self._target = workers, timeout_s, target
        self._init_args = (memory_mb * 1024 * 1024, warm)
        self._lock = threading.Lock()
        self._pool = self._new_pool()

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
        with self._lock:
            pool = self._pool
        future = pool.submit(self._target, data, media_type, filename)
        try:
            return future.result(timeout=self._timeout)
        except cf.TimeoutError:
            self._restart(pool)
            raise ParseError(f"{filename}: parsing took longer than {self._timeout:g} s") from None
        except (cf.process.BrokenProcessPool, MemoryError):
            self._restart(pool)
            raise ParseError(f"{filename}: parsing exceeded the memory limit") from None

    def _restart(self, broken: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not broken:
                return  # another thread already replaced it
            for process in list(getattr(broken, "_processes", {}).values()):
                process.kill()
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            log.warning("parser pool restarted after a hung or crashed child")

    def close(self) -> None:
        """Stop the children."""
        with self._lock:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
