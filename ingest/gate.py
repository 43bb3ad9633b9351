"""The write gate: index writes and the SQL that goes with them, paused while a backup runs.

Writers share the gate; a backup holds it alone, after the writers in flight are done. A
writer waits only while a backup holds the gate, never for one that is waiting, so a
writer may enter twice (nested) without deadlocking; write steps are short and come in
bursts, so a waiting backup still gets its turn.
"""

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class WriteGate:
    """Shared by writers (`writing`), exclusive for a snapshot (`paused`); no thread affinity."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._writers = 0
        self._paused = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the gate as one of many writers (waits while a backup holds it)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._paused)
            self._writers += 1
        try:
            yield
        finally:
            with self._changed:
                self._writers -= 1
                self._changed.notify_all()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the gate alone: no write is in flight until the block ends."""
        with self._changed:
            self._changed.wait_for(lambda: not self._paused and not self._writers)
            self._paused = True
        try:
            yield
        finally:
            with self._changed:
                self._paused = False
                self._changed.notify_all()


class Gated(Protocol):
    """Anything that carries a write gate (the ingestion pipeline)."""

    @property
    def gate(self) -> WriteGate: ...


G = TypeVar("G", bound=Gated)


def writes(step: Callable[Concatenate[G, P], R]) -> Callable[Concatenate[G, P], R]:
    """Run `step` as one writer of its first argument's gate."""

    @functools.wraps(step)
    def gated(owner: G, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with owner.gate.writing():
            return step(owner, *args, **kwargs)

    return gated
