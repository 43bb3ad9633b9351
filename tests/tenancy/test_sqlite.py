"""The embedded database: in-process writers queue on a lock; read-only transactions don't."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from api.ops import migrate
from tenancy import sqlite, tenants
from tenancy.db import make_engine, session_factory
from tenancy.models import Tenant


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database file."""
    created = make_engine(f"sqlite:///{tmp_path / 'enclave.db'}")
    migrate.upgrade(created)
    yield created
    created.dispose()


def _writing(engine: Engine) -> Session:
    """A session inside a write transaction (it has taken the writer lock)."""
    session = session_factory(engine)()
    tenants.create(session, name=f"t{id(session)}")
    return session


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_a_write_transaction_holds_the_writer_lock_until_it_ends(engine: Engine, end: str) -> None:
    lock = sqlite.writer_lock(engine)
    assert not lock.locked()
    session = _writing(engine)
    assert lock.locked()
    getattr(session, end)()
    assert not lock.locked()
    session.close()


def test_a_second_writer_waits_for_the_first_and_gets_in_when_it_commits(engine: Engine) -> None:
    first = _writing(engine)
    second_in = threading.Event()

    def second() -> None:
        with session_factory(engine)() as session:
            tenants.create(session, name="second")  # begins: queues on the lock
            second_in.set()
            session.commit()

    thread = threading.Thread(target=second)
    thread.start()
    assert not second_in.wait(0.3), "a second writer began while the first held the lock"
    first.commit()
    assert second_in.wait(10), "the second writer was not let in when the first committed"
    thread.join(10)
    first.close()
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 2


def test_a_read_only_transaction_reads_while_a_writer_holds_the_lock(engine: Engine) -> None:
    writer = _writing(engine)
    with session_factory(engine)() as reader:
        sqlite.read_only(reader)
        # It sees the last committed state, not the writer's uncommitted row, and returns
        # without waiting for the writer.
        assert reader.execute(text("SELECT count(*) FROM tenants")).scalar_one() == 0
        reader.commit()
    assert sqlite.writer_lock(engine).locked()
    writer.rollback()
    writer.close()


def test_read_only_must_come_before_the_transaction_starts(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.execute(text("SELECT 1"))
        with pytest.warns(Warning, match="execution_options ignored"):
            sqlite.read_only(session)
        session.rollback()


def test_sqlite_leaves_checkpoints_to_the_background_but_keeps_a_backstop(engine: Engine) -> None:
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == sqlite.AUTOCHECKPOINT_PAGES


def _write_megabytes(engine: Engine, n: int) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (body BLOB)")
        for _ in range(n):
            connection.exec_driver_sql("INSERT INTO filler VALUES (randomblob(1048576))")


def test_the_checkpointer_moves_the_wal_into_the_database_file(
    engine: Engine, tmp_path: Path
) -> None:
    database = tmp_path / "enclave.db"
    before = database.stat().st_size
    _write_megabytes(engine, 2)  # ~500 pages: below SQLite's own checkpoint
    assert database.stat().st_size < before + 2**20  # still in the WAL
    checkpointer = sqlite.Checkpointer(engine, every_s=0.05)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while database.stat().st_size < before + 2 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        checkpointer.stop()
    assert database.stat().st_size >= before + 2 * 2**20
    frames, copied = checkpointer.checkpoint()
    assert frames == copied  # nothing left behind


def test_the_wal_is_truncated_after_an_erasure_while_the_checkpointer_runs(
    engine: Engine, tmp_path: Path
) -> None:
    _write_megabytes(engine, 8)
    wal = tmp_path / "enclave.db-wal"
    assert wal.stat().st_size > 8 * 2**20
    checkpointer = sqlite.Checkpointer(engine, every_s=0.001)  # checkpointing all the time
    checkpointer.start()
    try:
        truncated = [sqlite.truncate_wal(engine) for _ in range(5)]
    finally:
        checkpointer.stop()
    assert all(truncated)
    assert wal.stat().st_size == 0
