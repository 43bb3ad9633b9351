"""The write gate: writers share it, a backup holds it alone, nested writers never deadlock."""

import threading
import time
from collections.abc import Callable

from ingest.gate import WriteGate


def _start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_writers_share_the_gate() -> None:
    gate = WriteGate()
    with gate.writing():
        entered = threading.Event()

        def other() -> None:
            with gate.writing():
                entered.set()

        _start(other)
        assert entered.wait(2)


def test_a_pause_waits_for_writers_in_flight_and_holds_new_ones() -> None:
    gate, events = WriteGate(), []
    paused, release = threading.Event(), threading.Event()

    def pause() -> None:
        with gate.paused():
            events.append("paused")
            paused.set()
            release.wait(2)
            events.append("resumed")

    def write() -> None:
        with gate.writing():
            events.append("late write")

    with gate.writing():
        pauser = _start(pause)
        assert not paused.wait(0.2)  # the write in flight finishes first
        events.append("written")
    assert paused.wait(2)
    writer = _start(write)
    time.sleep(0.2)
    assert events == ["written", "paused"]  # the new write waits for the pause
    release.set()
    pauser.join(2)
    writer.join(2)
    assert events == ["written", "paused", "resumed", "late write"]


def test_a_nested_writer_does_not_deadlock_behind_a_waiting_pause() -> None:
    gate, done = WriteGate(), threading.Event()

    def pause() -> None:
        with gate.paused():
            pass

    with gate.writing():
        pauser = _start(pause)
        time.sleep(0.1)  # the pause is now waiting for us
        with gate.writing():
            done.set()
    pauser.join(2)
    assert done.is_set()
    assert not pauser.is_alive()
