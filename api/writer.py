"""Group commit: the writes of many concurrent searches (each one's audit event, receipt and
record) in one transaction, written by one thread.

Each search appends to its tenant's audit chain, and a chain takes one append at a time:
SQLite has one writer, and PostgreSQL holds the chain's advisory lock until the commit. With
a transaction per search, concurrent searches of a tenant queue for that lock, each holding
it through its record, its receipt and its commit round trip. Here one thread takes every
search's writes that are waiting, runs them one after another in one transaction, commits
once, and only then releases each request: a response still leaves after its record and
audit event are committed (the same durability as before, group by group), and a crash
loses only writes whose responses were never sent. With no other search waiting, a group
is one search.

A group whose transaction fails is retried one write at a time, so one bad write fails its
own request only.
"""

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tenancy import db, sqlite
from tenancy.errors import StoreUnavailable
from tenancy.sqlite import BUSY_TIMEOUT_S

log = logging.getLogger("enclave.writer")

T = TypeVar("T")
MAX_GROUP = 64  # writes per transaction at most (each is a few rows)
WAIT_S = BUSY_TIMEOUT_S * 2  # a request gives up on a writer that never answers


@dataclass
class _Write(Generic[T]):
    """One request's writes, run with the writer's session, and how they ended."""

    work: Callable[[db.Session], T]
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class GroupWriter:
    """Runs requests' writes in shared transactions on one thread (see the module)."""

    def __init__(self, sessions: db.SessionFactory, *, enabled: bool) -> None:
        self._sessions = sessions
        self._enabled = enabled
        self._queue: queue.SimpleQueue[_Write[object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def run(self, session: db.Session, work: Callable[[db.Session], T]) -> T:
        """`work`, committed before this returns: disabled, with the request's own `session`
        (its transaction commits it); else with the writer's, in the next group."""
        if not self._enabled:
            if sqlite.reading(session):  # SQLite: writes there would skip the writer's queue
                raise RuntimeError("a request's writes began in its read-only transaction")
            return work(session)
        write: _Write[T] = _Write(work)
        self._submit(write)
        if not write.done.wait(WAIT_S):
            raise StoreUnavailable("the database writer did not answer in time; retry")
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]

    def stop(self) -> None:
        """Finish the writes already queued, then end the thread."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(WAIT_S)

    def _submit(self, write: "_Write[T]") -> None:
        with self._lock:
            if self._stopped:
                raise StoreUnavailable("the server is shutting down; retry")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="enclave-writer", daemon=True
                )
                self._thread.start()
            self._queue.put(write)  # type: ignore[arg-type]

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(more)
            self._write(group)

    def _write(self, group: list[_Write[object]]) -> None:
        try:
            try:
                self._commit(group)
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                    return
                log.warning("a group of %d writes failed (%s); one by one now", len(group), exc)
                for write in group:
                    try:
                        self._commit([write])
                    except Exception as one:
                        write.error = one
        finally:
            for write in group:
                write.done.set()

    def _commit(self, group: list[_Write[object]]) -> None:
        with self._sessions() as session:
            for write in group:
                write.result = write.work(session)
            session.commit()
