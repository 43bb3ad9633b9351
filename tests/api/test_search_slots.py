"""`search_concurrency`: at most that many searches run in worker threads at once; the others
wait their turn in the event loop, and none fails for it."""

import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api import services as services_module
from api.services import Services
from api.settings import Settings
from retrieval import search as searching
from tests.api.conftest import World
from tests.factories import search

SLOTS = 2
SEARCHES = 6


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The conftest's settings, with two search slots."""
    settings.search_concurrency = SLOTS
    return settings


class Peak:
    """The most index queries seen in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def slowed(self, query: Callable[..., Any]) -> Callable[..., Any]:
        """`query`, holding its caller for 200 ms so that concurrent searches overlap."""

        def slow(*args: Any) -> Any:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(0.2)
                return query(*args)
            finally:
                with self.lock:
                    self.now -= 1

        return slow


@pytest.fixture
def peak(monkeypatch: pytest.MonkeyPatch) -> Peak:
    """Index queries slowed down and counted."""
    counter = Peak()
    monkeypatch.setattr(searching, "_query_index", counter.slowed(searching._query_index))
    return counter


async def _searches(client: httpx.AsyncClient, key: str) -> list[httpx.Response]:
    return list(
        await asyncio.gather(*(search(client, key, f"handbook {n}") for n in range(SEARCHES)))
    )


async def test_at_most_the_configured_searches_run_at_once_and_none_fails(
    client: httpx.AsyncClient, world: World, services: Services, peak: Peak
) -> None:
    assert services.search_slots is not None
    assert services.search_slots.total_tokens == SLOTS
    responses = await _searches(client, world.a.keys.reader)
    assert [r.status_code for r in responses] == [200] * SEARCHES
    assert all(r.json()["results"] for r in responses)
    assert peak.most == SLOTS


async def test_without_slots_the_same_searches_overlap_further(
    client: httpx.AsyncClient, world: World, services: Services, peak: Peak
) -> None:
    # The control: the count above is the limiter's doing, not the test's.
    services.search_slots = None
    responses = await _searches(client, world.a.keys.reader)
    assert [r.status_code for r in responses] == [200] * SEARCHES
    assert peak.most > SLOTS


def test_auto_is_the_cpu_count_on_sqlite_and_no_limit_on_postgresql(
    settings: Settings, services: Services
) -> None:
    auto = services_module._search_slots(
        settings.model_copy(update={"search_concurrency": 0}), services.engine
    )
    if services.engine.dialect.name == "postgresql":
        assert auto is None
    else:
        assert auto is not None
        assert auto.total_tokens == max(2, len(os.sched_getaffinity(0)))  # Linux here
