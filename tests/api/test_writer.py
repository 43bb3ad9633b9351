"""Group commit (`api.writer`): concurrent writes share a transaction, each caller is answered
only after its write is committed, and one failing write fails only its own caller."""

import itertools
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from api.writer import GroupWriter
from tenancy import db, sqlite
from tenancy.errors import StoreUnavailable

TRANSACTIONS = itertools.count(1)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = db.make_engine(database_url)
    with built.begin() as connection:
        connection.execute(text("CREATE TABLE notes (body TEXT PRIMARY KEY, txid INTEGER)"))
    yield built
    built.dispose()


def _note(body: str) -> Callable[[db.Session], int]:
    def write(session: db.Session) -> int:
        txid: int = session.info.setdefault("txid", next(TRANSACTIONS))
        session.execute(text("INSERT INTO notes VALUES (:b, :t)"), {"b": body, "t": txid})
        return txid

    return write


# Enabled, the writer writes with its own session: the caller's is not used.
UNUSED = db.Session()


def _committed(engine: Engine) -> dict[str, int]:
    with engine.connect().execution_options(**{sqlite.READ_ONLY: True}) as connection:
        rows = connection.execute(text("SELECT body, txid FROM notes"))
        return {row.body: row.txid for row in rows}


def test_writes_that_wait_together_share_one_transaction(engine: Engine) -> None:
    writer = GroupWriter(db.session_factory(engine), enabled=True)
    entered, release = threading.Event(), threading.Event()

    def blocking(session: db.Session) -> int:
        entered.set()
        release.wait(10)
        return _note("first")(session)

    answers: dict[str, int] = {}
    first = threading.Thread(target=lambda: answers.update(first=writer.run(UNUSED, blocking)))
    first.start()
    assert entered.wait(10)
    waiting = [
        threading.Thread(target=lambda n=n: answers.update({n: writer.run(UNUSED, _note(n))}))
        for n in ("a", "b", "c")
    ]
    for thread in waiting:
        thread.start()
    deadline = time.monotonic() + 10
    while writer._queue.qsize() < 3 and time.monotonic() < deadline:  # queued behind "first"
        time.sleep(0.01)
    release.set()
    for thread in [first, *waiting]:
        thread.join(10)
    writer.stop()
    stored = _committed(engine)
    assert set(stored) == {"first", "a", "b", "c"}
    assert stored["a"] == stored["b"] == stored["c"] == answers["a"]
    assert stored["first"] != stored["a"]


def test_a_failing_write_fails_its_caller_only(engine: Engine) -> None:
    writer = GroupWriter(db.session_factory(engine), enabled=True)
    writer.run(UNUSED, _note("taken"))
    results: dict[str, object] = {}
    gate = threading.Barrier(4)

    def call(body: str) -> None:
        gate.wait(5)
        try:
            results[body] = writer.run(UNUSED, _note(body))
        except IntegrityError as exc:
            results[body] = exc

    threads = [threading.Thread(target=call, args=(b,)) for b in ("x", "taken", "y", "z")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    writer.stop()
    assert isinstance(results["taken"], IntegrityError)
    assert all(isinstance(results[b], int) for b in ("x", "y", "z"))
    assert set(_committed(engine)) == {"taken", "x", "y", "z"}


def test_an_answer_comes_after_the_commit(engine: Engine) -> None:
    writer = GroupWriter(db.session_factory(engine), enabled=True)
    writer.run(UNUSED, _note("durable"))
    assert "durable" in _committed(engine)  # another connection sees it at once
    writer.stop()


def test_disabled_it_writes_with_the_callers_session(engine: Engine) -> None:
    writer = GroupWriter(db.session_factory(engine), enabled=False)
    with db.session_factory(engine)() as session:
        txid = writer.run(session, _note("mine"))
        assert txid == session.info["txid"]
        assert _committed(engine) == {}  # the caller's transaction commits it
        session.commit()
    assert _committed(engine) == {"mine": txid}
    assert writer._thread is None


def test_after_stop_a_write_is_refused_with_a_retryable_error(engine: Engine) -> None:
    writer = GroupWriter(db.session_factory(engine), enabled=True)
    writer.run(UNUSED, _note("before"))
    writer.stop()
    with pytest.raises(StoreUnavailable):
        writer.run(UNUSED, _note("after"))
    assert set(_committed(engine)) == {"before"}


def test_disabled_it_refuses_writes_inside_a_read_only_transaction(engine: Engine) -> None:
    writer = GroupWriter(db.session_factory(engine), enabled=False)
    with db.session_factory(engine)() as session:
        sqlite.read_only(session)
        session.execute(text("SELECT 1"))
        with pytest.raises(RuntimeError, match="read-only"):
            writer.run(session, _note("in a read"))
        session.rollback()
        assert writer.run(session, _note("in its own")) > 0
        session.commit()
    assert set(_committed(engine)) == {"in its own"}
