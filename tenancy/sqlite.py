"""The embedded database: SQLite in WAL mode, with its one writer queued fairly in-process.

SQLite admits one writer at a time. Every write transaction begins IMMEDIATE (it takes the
write lock up front, so it never fails later when a read turns into a write), and a
connection that finds the lock taken waits in SQLite's busy handler, which sleeps in
growing steps of up to 100 ms between tries. Under concurrent searches those sleeps, not
the work, made the latency: at 16 clients a BEGIN IMMEDIATE took 75-96 ms on average
while the lock was free most of the time. So the writers of one process first queue on a
lock of their own, which hands over the moment a transaction ends; SQLite's busy handler
is left with the writers of other processes. Transactions that only read begin deferred
(`read_only`) and queue for nothing: WAL readers never wait for the writer.

The lock only orders writers; SQLite's own locking still guarantees correctness. A
writer that cannot get it within the busy timeout proceeds without it.
"""

import logging
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session

log = logging.getLogger("enclave.db")

BUSY_TIMEOUT_S = 30.0
# A checkpoint copies the WAL into the database file and syncs it: ~6 ms per 1,000 pages here.
# Left to SQLite, the commit that passes 1,000 pages runs it: one search in ~80 paid for it
# (the p99 at one client). The service checkpoints in the background (`Checkpointer`) instead;
# SQLite's own stays as a backstop, at ten times its default, should that thread fall behind.
AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_EVERY_S = 0.5
# Execution option marking a transaction that will only read (see `read_only`).
READ_ONLY = "enclave_read_only"


class QueuedConnection(sqlite3.Connection):
    """A DB-API connection that holds its engine's writer lock for a write transaction."""

    writer_lock: threading.Lock  # one per engine, set on the subclass `engine()` makes
    holds_writer_lock = False

    def begin_write(self) -> None:
        """Queue for the writer lock, then BEGIN IMMEDIATE."""
        if self.writer_lock.acquire(timeout=BUSY_TIMEOUT_S):
            self.holds_writer_lock = True
        else:
            log.warning("writer lock not granted in %.0f s; left to SQLite", BUSY_TIMEOUT_S)
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    # Every way a transaction ends at the driver (commit, rollback, the pool's reset on
    # return, close on invalidation) releases the lock, so no path can leak it.
    def commit(self) -> None:
        """Commit, then let the next writer in."""
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        """Roll back, then let the next writer in."""
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        """Close (ending any transaction), then let the next writer in."""
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self.holds_writer_lock:
            self.holds_writer_lock = False
            self.writer_lock.release()


def engine(url: str, **options: Any) -> Engine:
    """A SQLite engine: WAL, foreign keys, busy timeout, writers queued in-process
    (`options` go to `create_engine`)."""
    factory = type("QueuedConnection", (QueuedConnection,), {"writer_lock": threading.Lock()})
    connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S, "factory": factory}
    created = create_engine(url, connect_args=connect_args, hide_parameters=True, **options)
    event.listen(created, "connect", _pragmas)
    event.listen(created, "begin", _begin)
    return created


def writer_lock(engine: Engine) -> threading.Lock:
    """The lock the engine's write transactions queue on."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
    if not isinstance(driver, QueuedConnection):
        raise TypeError("not an engine from tenancy.sqlite.engine()")
    return driver.writer_lock


def read_only(session: Session) -> None:
    """Begin the session's next transaction as a read: it neither queues nor locks on SQLite.

    Call it before the session's first statement; a write in such a transaction may fail
    with SQLITE_BUSY when another writer got there first. Other databases ignore it.
    """
    session.connection(execution_options={READ_ONLY: True})


def reading(session: Session) -> bool:
    """Whether the session's open transaction began with `read_only`."""
    if not session.in_transaction():
        return False
    return bool(session.connection().get_execution_options().get(READ_ONLY, False))


def renew_snapshot(session: Session) -> None:
    """Let the session's open read-only transaction read as of its next statement: on SQLite,
    end its snapshot and begin anew on the same connection (a read's snapshot is fixed at its
    first read). Other databases read committed data per statement: nothing to do."""
    driver = session.connection().connection.driver_connection
    if isinstance(driver, QueuedConnection) and driver.in_transaction:
        driver.execute("COMMIT")  # a read: nothing to write, only the snapshot ends
        driver.execute("BEGIN")


def checkpoint(engine: Engine) -> None:
    """Fold the WAL into the database file and truncate it, in the background (after an
    erasure, so that the erased rows' old pages leave the WAL file too; a truncating
    checkpoint waits for readers, so not on the request). Other databases ignore it."""
    if engine.dialect.name == "sqlite":
        threading.Thread(target=_truncate_wal, args=(engine,), daemon=True).start()


class Checkpointer:
    """Checkpoints the WAL every `every_s` seconds in a thread of its own, off the requests'
    commits. PASSIVE: it waits for no reader or writer, and copies what they no longer need."""

    def __init__(self, engine: Engine, *, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self._engine, self._every_s = engine, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Checkpoint in the background until `stop`."""
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread (SQLite checkpoints once more when its last connection closes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(BUSY_TIMEOUT_S)

    def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: (frames in the WAL, frames copied to the database)."""
        _busy, frames, copied = _wal_checkpoint(self._engine, "PASSIVE")
        return frames, copied

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._every_s):
            try:
                self.checkpoint()
                failing = False
            except Exception:  # a full disk, a busy pool: the next pass (or SQLite's) tries
                if not failing:  # once per streak, not every half second
                    log.warning("background WAL checkpoints are failing", exc_info=True)
                failing = True


# SQLite answers "busy" at once while another connection checkpoints (the `Checkpointer`):
# a truncation after an erasure tries again this often, for this long.
TRUNCATE_RETRY_S, TRUNCATE_TRIES = 0.05, 200


def truncate_wal(engine: Engine) -> bool:
    """Checkpoint the whole WAL and truncate it to zero bytes; False when it never could."""
    for _ in range(TRUNCATE_TRIES):
        try:
            busy, _frames, _copied = _wal_checkpoint(engine, "TRUNCATE")
        except sqlite3.Error:
            busy = 1
        if not busy:
            return True
        time.sleep(TRUNCATE_RETRY_S)
    return False


def _wal_checkpoint(engine: Engine, mode: str) -> tuple[int, int, int]:
    """`PRAGMA wal_checkpoint(mode)`: (busy, frames in the WAL, frames copied)."""
    raw = engine.raw_connection()  # autocommit (see `_pragmas`): no transaction around it
    try:
        driver: Any = raw.driver_connection
        busy, frames, copied = driver.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return int(busy), int(frames), int(copied)
    finally:
        raw.close()


def _truncate_wal(engine: Engine) -> None:
    if not truncate_wal(engine):
        log.warning("truncating the WAL after an erasure failed; the next erasure retries")


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the driver so that "begin" below is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit no longer waits for an fsync; a power cut can lose the
    # last commits but never corrupts the database (SQLite's documented trade-off).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    # Erased rows are overwritten, not just unlinked (and the WAL is checkpointed after an
    # erasure, `checkpoint`): deleted text does not linger in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _begin(connection: Connection) -> None:
    driver = connection.connection.driver_connection
    if not isinstance(driver, QueuedConnection):
        raise TypeError("SQLite engines must come from tenancy.sqlite.engine()")
    if connection.get_execution_options().get(READ_ONLY):
        # On the driver, as `begin_write` does: SQLAlchemy's statement layer (an execution
        # context, a cursor, a result) cost more than the BEGIN on every search.
        driver.execute("BEGIN")
        return
    driver.begin_write()
